// Express 4 is installed as the alias `express4` so that tests run both majors; its API is typed as Express 5's.
declare module 'express4' {
  import express from 'express';
  export default express;
}
