/** The `blockwal` command: dispatches to a subcommand and maps errors to exit codes (exit.ts). */
import { UsageError } from '@blockwal/core';
import { describeError, exitCodeOf } from './exit.js';
import { out } from './output.js';
import { writeSync } from 'node:fs';
import type { Role } from './cluster/run-roles.js';

interface CommandModule {
  usage: string;
  run(argv: string[]): number | Promise<number>;
}

interface Command {
  section: 'cluster' | 'admin' | 'tools';
  /**
   * Loaded on demand: a format tool must not pay for loading gRPC, protobufjs, pino and
   * prom-client at every start (the bundle is split so that each command loads only its part).
   */
  load(): Promise<CommandModule>;
}

const role = (r: Role) => async (): Promise<CommandModule> => (await import('./commands/role.js')).roleCommand(r);

const COMMANDS: Record<string, Command> = {
  demo: { section: 'cluster', load: () => import('./commands/demo.js') },
  up: { section: 'cluster', load: () => import('./commands/up.js') },
  storage: { section: 'cluster', load: role('storage') },
  proxy: { section: 'cluster', load: role('proxy') },
  archive: { section: 'cluster', load: role('archive') },
  volume: { section: 'admin', load: () => import('./commands/volume.js') },
  snapshot: { section: 'admin', load: () => import('./commands/snapshot.js') },
  restore: { section: 'admin', load: () => import('./commands/restore.js') },
  status: { section: 'admin', load: () => import('./commands/status.js') },
  device: { section: 'tools', load: () => import('./commands/device.js') },
  wlog: { section: 'tools', load: () => import('./commands/wlog.js') },
  wdiff: { section: 'tools', load: () => import('./commands/wdiff.js') },
  ldev: { section: 'tools', load: () => import('./commands/ldev.js') },
  'virt-full-cat': { section: 'tools', load: () => import('./commands/virt-full-cat.js') },
  checksum: { section: 'tools', load: () => import('./commands/checksum.js') },
  version: { section: 'tools', load: () => import('./commands/version.js') },
};

async function help(): Promise<string> {
  const lines = ['usage: blockwal <command> [options]'];
  const sections: [Command['section'], string][] = [
    ['cluster', 'Run (one process or one role per process):'],
    ['admin', 'Admin (talk to a running cluster; in the directory of "blockwal up" no flags are needed):'],
    ['tools', 'Format tools and the WAL device (WalB compatible; "-" means stdin/stdout):'],
  ];
  for (const [sec, title] of sections) {
    lines.push('', title);
    for (const c of Object.values(COMMANDS).filter((x) => x.section === sec)) for (const u of (await c.load()).usage.split('\n')) lines.push(`  ${u.trim()}`);
  }
  lines.push('', 'Exit codes: 0 ok, 1 usage error, 2 bad data (the message says where), 3 other failure, 4 verification failed.');
  lines.push('Sizes accept K M G T (powers of 1024) and k m g t (powers of 1000).');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(await help());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version') return (await import('./commands/version.js')).run([]);
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}" (try blockwal --help)`);
    const mod = await cmd.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      out(`usage: ${mod.usage}`);
      return 0;
    }
    return await mod.run(rest);
  } catch (e) {
    writeSync(2, `blockwal: ${describeError(e)}\n`);
    return exitCodeOf(e);
  }
}
