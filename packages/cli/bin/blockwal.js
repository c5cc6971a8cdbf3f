#!/usr/bin/env node
// Entry point of the `blockwal` command: runs the bundled CLI (dist/blockwal.mjs, built by
// `npm run build`, which `npm ci` runs).
import { main } from '../dist/blockwal.mjs';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`blockwal: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
