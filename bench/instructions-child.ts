// The process bench/chain-instructions.ts runs under valgrind: COUNT requests to one route of the in-process app, bare or with the chain.
import express from 'express';
import { bareRoute, chainOf, inProcessClient, serveMany } from './in-process';

type Lib = typeof import('../lib');

async function main(): Promise<void> {
  const { LIB_DIR, ROUTE, COUNT } = process.env;
  const app = express();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (ROUTE === 'chain') app.post('/chain', ...chainOf(require(LIB_DIR!) as Lib, inProcessClient));
  else app.post('/bare', bareRoute(inProcessClient));
  await serveMany(app, `/${ROUTE}`, Number(COUNT));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
