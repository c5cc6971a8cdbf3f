#!/usr/bin/env node
// Entry point of the `blockwal` command: runs the built CLI (dist/), or the TypeScript sources
// through tsx when BLOCKWAL_FROM_SOURCE=1 (development).
import { main } from '../dist/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`blockwal: internal error: ${err?.stack ?? err}\n`); process.exitCode = 70; },
);
