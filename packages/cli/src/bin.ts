#!/usr/bin/env node
import { runCli } from './program.js';

const ac = new AbortController();
process.once('SIGINT', () => ac.abort());
process.exitCode = await runCli(process.argv.slice(2), {
  signal: ac.signal,
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  tty: process.stderr.isTTY === true,
});
