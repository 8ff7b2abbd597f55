#!/usr/bin/env node
// The `token-budget` bin: runs the command line and exits with its status.
import { runCli } from './run';

runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
}).then((code) => {
  // Exit once the output is written: a client's socket to a stalled server may linger for seconds after it was closed.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
