import type { HttpRecorder, PendingRequest } from '../http.js'
import { now } from '../runtime.js'

/**
 * The smallest adapter on `Base` (this module's `PendingRequest`, or a fresh copy's): a request to
 * `/work`, answered 200 on route `/work`.
 */
export function smallestAdapter(Base: typeof PendingRequest): new (recorder: HttpRecorder) => PendingRequest {
  return class TestRequest extends Base {
    readonly raw: object = {}
    constructor(recorder: HttpRecorder) {
      super(recorder, now(), undefined, undefined)
    }
    get method(): string {
      return 'GET'
    }
    get url(): string {
      return '/work'
    }
    get requestBytes(): unknown {
      return undefined
    }
    get responseBytes(): unknown {
      return undefined
    }
    protected rawRequest(): object {
      return this.raw
    }
    protected settle(): string | undefined {
      this.status = 200
      return '/work'
    }
  }
}
