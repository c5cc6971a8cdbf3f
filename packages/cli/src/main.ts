/** The `blockwal` command: dispatches to a subcommand and maps errors to exit codes (exit.ts). */
import { UsageError } from '@blockwal/core';
import { describeError, exitCodeOf } from './exit.js';
import { out } from './output.js';
import { writeSync } from 'node:fs';
import * as checksum from './commands/checksum.js';
import * as ldev from './commands/ldev.js';
import * as wlog from './commands/wlog.js';
import * as wdiff from './commands/wdiff.js';
import * as virtFullCat from './commands/virt-full-cat.js';
import * as version from './commands/version.js';
import * as demo from './commands/demo.js';
import * as device from './commands/device.js';

interface Command {
  usage: string;
  summary: string;
  run(argv: string[]): number | Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  demo: { ...demo, summary: 'the whole backup path on a sample volume, every restore checked by sha256' },
  device: { ...device, summary: 'the WAL device: create, serve over NBD, status' },
  wlog: { ...wlog, summary: 'show, convert and apply wlog files' },
  wdiff: { ...wdiff, summary: 'show, merge, apply, create and name wdiff files' },
  ldev: { ...ldev, summary: 'format, show and extract from log devices' },
  'virt-full-cat': { ...virtFullCat, summary: 'base image + wdiffs -> full image' },
  checksum: { ...checksum, summary: 'the WalB checksum of a file' },
  version: { ...version, summary: 'versions and which native paths are in use' },
};

function help(): string {
  const lines = ['usage: blockwal <command> [options]', '', 'Format tools (WalB compatible; "-" means stdin/stdout):'];
  for (const c of Object.values(COMMANDS)) for (const u of c.usage.split('\n')) lines.push(`  ${u.trim()}`);
  lines.push('', 'Exit codes: 0 ok, 1 usage error, 2 bad data (the message says where), 3 other failure, 4 verification failed.');
  lines.push('Sizes accept K M G T (powers of 1024) and k m g t (powers of 1000).');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(help());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version') return version.run([]);
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}" (try blockwal --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      out(`usage: ${cmd.usage}`);
      return 0;
    }
    return await cmd.run(rest);
  } catch (e) {
    writeSync(2, `blockwal: ${describeError(e)}\n`);
    return exitCodeOf(e);
  }
}
