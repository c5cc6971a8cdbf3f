/**
 * blockwal up [--config FILE] [--data-dir DIR]
 * A whole cluster in this process (every server of the config; the embedded default when no
 * config is given: one storage agent, one proxy and one archive on loopback, data under
 * ./blockwal-data). Admin commands run in the same directory find it without flags.
 */
import { loadConfig } from '@blockwal/core';
import { parse, positionals, str } from '../args.js';
import { out } from '../output.js';
import { runCluster, untilSignal } from '../cluster/run-roles.js';

export const usage = 'blockwal up [--config FILE] [--data-dir DIR]';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { config: { type: 'string' }, 'data-dir': { type: 'string' } }, usage);
  positionals(p, [], usage);
  const dataDir = str(p, 'data-dir');
  const cfg = loadConfig(str(p, 'config'), dataDir !== undefined ? { dataDir } : {});
  const running = await runCluster(cfg);
  const e = running.endpoints;
  for (const a of e.archives) out(`archive ${a.name}: ${a.address}${a.metrics ? `  metrics http://${a.metrics}/metrics` : ''}`);
  for (const px of e.proxies) out(`proxy   ${px.name}: ${px.address}${px.metrics ? `  metrics http://${px.metrics}/metrics` : ''}`);
  for (const s of e.storage) out(`storage ${s.name}: ${s.address}  nbd ${s.nbd}${s.metrics ? `  metrics http://${s.metrics}/metrics` : ''}`);
  out(`data in ${cfg.dataDir}; endpoints in ${running.endpointsFile}. Ctrl-C stops.`);
  return untilSignal(running);
}
