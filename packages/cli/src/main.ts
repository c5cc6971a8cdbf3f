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
import * as up from './commands/up.js';
import { roleCommand } from './commands/role.js';
import * as volume from './commands/volume.js';
import * as snapshot from './commands/snapshot.js';
import * as restore from './commands/restore.js';
import * as status from './commands/status.js';

interface Command {
  usage: string;
  summary: string;
  section: 'cluster' | 'admin' | 'tools';
  run(argv: string[]): number | Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  demo: { ...demo, section: 'cluster', summary: 'a whole cluster in this process: a volume written through NBD, snapshots, every restore checked by sha256' },
  up: { ...up, section: 'cluster', summary: 'run a whole cluster in this process' },
  storage: { ...roleCommand('storage'), section: 'cluster', summary: 'run storage agents of a config' },
  proxy: { ...roleCommand('proxy'), section: 'cluster', summary: 'run proxies of a config' },
  archive: { ...roleCommand('archive'), section: 'cluster', summary: 'run archives of a config' },
  volume: { ...volume, section: 'admin', summary: 'add and list volumes' },
  snapshot: { ...snapshot, section: 'admin', summary: 'take and list snapshots' },
  restore: { ...restore, section: 'admin', summary: 'restore a snapshot to an image file' },
  status: { ...status, section: 'admin', summary: 'per volume: state, log usage, RPO, bytes waiting per hop' },
  device: { ...device, section: 'tools', summary: 'the WAL device: create, serve over NBD, status' },
  wlog: { ...wlog, section: 'tools', summary: 'show, convert and apply wlog files' },
  wdiff: { ...wdiff, section: 'tools', summary: 'show, merge, apply, create and name wdiff files' },
  ldev: { ...ldev, section: 'tools', summary: 'format, show and extract from log devices' },
  'virt-full-cat': { ...virtFullCat, section: 'tools', summary: 'base image + wdiffs -> full image' },
  checksum: { ...checksum, section: 'tools', summary: 'the WalB checksum of a file' },
  version: { ...version, section: 'tools', summary: 'versions and which native paths are in use' },
};

function help(): string {
  const lines = ['usage: blockwal <command> [options]'];
  const sections: [Command['section'], string][] = [
    ['cluster', 'Run (one process or one role per process):'],
    ['admin', 'Admin (talk to a running cluster; in the directory of "blockwal up" no flags are needed):'],
    ['tools', 'Format tools and the WAL device (WalB compatible; "-" means stdin/stdout):'],
  ];
  for (const [sec, title] of sections) {
    lines.push('', title);
    for (const c of Object.values(COMMANDS).filter((x) => x.section === sec)) for (const u of c.usage.split('\n')) lines.push(`  ${u.trim()}`);
  }
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
