import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

setFlagsFromString('--expose-gc')
/** A full garbage collection, without starting the test process with --expose-gc. */
export const gc: () => void = runInNewContext('gc')
