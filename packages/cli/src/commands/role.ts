/**
 * blockwal storage|proxy|archive --config FILE [--name NAME] [--data-dir DIR]
 * Runs the servers of one role from a cluster config (all of that role, or the one named).
 */
import { UsageError, loadConfig } from '@blockwal/core';
import { parse, positionals, str } from '../args.js';
import { out } from '../output.js';
import { runCluster, untilSignal, type Role } from '../cluster/run-roles.js';

export function roleCommand(role: Role): { usage: string; run(argv: string[]): Promise<number> } {
  const usage = `blockwal ${role} --config FILE [--name NAME] [--data-dir DIR]`;
  return {
    usage,
    async run(argv: string[]): Promise<number> {
      const p = parse(argv, { config: { type: 'string' }, name: { type: 'string' }, 'data-dir': { type: 'string' } }, usage);
      positionals(p, [], usage);
      const file = str(p, 'config');
      if (file === undefined) throw new UsageError(`missing --config\nusage: ${usage}`);
      const dataDir = str(p, 'data-dir');
      const cfg = loadConfig(file, dataDir !== undefined ? { dataDir } : {});
      const name = str(p, 'name');
      const list = role === 'storage' ? cfg.storage : role === 'proxy' ? cfg.proxies : cfg.archives;
      if (list.length === 0) throw new UsageError(`${file}: no ${role} server configured`);
      if (name !== undefined && !list.some((s) => s.name === name)) throw new UsageError(`${file}: no ${role} server named "${name}" (there are: ${list.map((s) => s.name).join(', ')})`);
      // Several role processes may share a data dir: only `up` writes the endpoints file.
      const running = await runCluster(cfg, { roles: [role], ...(name !== undefined ? { name } : {}), writeEndpointsFile: false });
      const e = running.endpoints;
      for (const s of [...e.archives, ...e.proxies]) out(`${role} ${s.name}: ${s.address}${s.metrics ? `  metrics http://${s.metrics}/metrics` : ''}`);
      for (const s of e.storage) out(`${role} ${s.name}: ${s.address}  nbd ${s.nbd}${s.metrics ? `  metrics http://${s.metrics}/metrics` : ''}`);
      return untilSignal(running);
    },
  };
}
