// The `express4` dev dependency is express 4 under an alias (npm:express@4); its API as far as the
// conformance app uses it is the one @types/express describes.
declare module 'express4' {
  import express from 'express'
  export default express
}
