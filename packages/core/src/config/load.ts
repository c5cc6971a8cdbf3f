/**
 * Reading the cluster config: YAML → schema (defaults filled, unknown keys refused) → compiled
 * (directories resolved, TLS copied into each server). The only reader of process.env for config.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ZodError } from 'zod';
import { UsageError } from '../errors.js';
import { clusterSchema, type ArchiveConfig, type ClusterConfig, type ProxyConfig, type StorageConfig } from './schema.js';

/** The config when none is given: one storage agent, one proxy, one archive on loopback. */
export const EMBEDDED_CONFIG_YAML = `# blockwal's embedded default: a whole cluster on loopback.
dataDir: ./blockwal-data
storage:
  - name: s0
    listen: 127.0.0.1:7101
    metricsListen: 127.0.0.1:9101
    nbdListen: 127.0.0.1:10809
    proxies: [{ name: p0, address: 127.0.0.1:7201 }]
    archive: { name: a0, address: 127.0.0.1:7301 }
proxies:
  - name: p0
    listen: 127.0.0.1:7201
    metricsListen: 127.0.0.1:9201
    archives: [{ name: a0, address: 127.0.0.1:7301 }]
archives:
  - name: a0
    listen: 127.0.0.1:7301
    metricsListen: 127.0.0.1:9301
`;

export interface LoadOptions {
  /** Overrides `dataDir` (e.g. `blockwal up --data-dir`). */
  dataDir?: string;
  /** Directory relative paths are resolved against (default: the config file's, or cwd). */
  baseDir?: string;
  /** Environment (default process.env): BLOCKWAL_DATA_DIR, BLOCKWAL_LOG_LEVEL. */
  env?: NodeJS.ProcessEnv;
}

/** Parses and compiles a config given as YAML text; `source` names it in errors. */
export function parseConfig(text: string, source: string, opts: LoadOptions = {}): ClusterConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (e) {
    if (e instanceof YAMLParseError) throw new UsageError(`${source}: not valid YAML: ${e.message.split('\n')[0]}`);
    throw e;
  }
  const env = opts.env ?? process.env;
  let parsed;
  try {
    parsed = clusterSchema.parse(doc);
  } catch (e) {
    if (e instanceof ZodError) throw new UsageError(`${source}: ${describeZodError(e)}`);
    throw e;
  }
  const base = opts.baseDir ?? process.cwd();
  const dataDir = path.resolve(base, opts.dataDir ?? env.BLOCKWAL_DATA_DIR ?? parsed.dataDir);
  const level = (env.BLOCKWAL_LOG_LEVEL as ClusterConfig['log']['level'] | undefined) ?? parsed.log.level;
  const tls = parsed.tls && {
    certFile: path.resolve(base, parsed.tls.certFile),
    keyFile: path.resolve(base, parsed.tls.keyFile),
    caFile: path.resolve(base, parsed.tls.caFile),
  };
  const dirOf = (d: string | undefined, n: string) => path.resolve(base, d ?? path.join(dataDir, n));
  const withTls = <T extends object>(c: T): T & { tls?: typeof tls } => (tls ? { ...c, tls } : c);
  const cfg: ClusterConfig = {
    dataDir,
    log: { level },
    storage: parsed.storage.map((s): StorageConfig => withTls({ ...s, dir: dirOf(s.dir, s.name) })),
    proxies: parsed.proxies.map((p): ProxyConfig => withTls({ ...p, dir: dirOf(p.dir, p.name) })),
    archives: parsed.archives.map((a): ArchiveConfig => {
      const dir = dirOf(a.dir, a.name);
      return withTls({ ...a, dir, restoreDir: a.restoreDir ? path.resolve(base, a.restoreDir) : path.join(dir, 'restored') });
    }),
  };
  if (tls) cfg.tls = tls;
  checkUnique(cfg, source);
  return cfg;
}

/** Reads a config file (or the embedded default when `file` is undefined). */
export function loadConfig(file: string | undefined, opts: LoadOptions = {}): ClusterConfig {
  if (file === undefined) return parseConfig(EMBEDDED_CONFIG_YAML, 'embedded default config', opts);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read config ${file}: ${(e as Error).message}`);
  }
  return parseConfig(text, file, { baseDir: path.dirname(path.resolve(file)), ...opts });
}

/** "storage[0].proxies: must have at least 1 element; archives[1].listen: must be host:port". */
export function describeZodError(e: ZodError): string {
  return e.issues
    .map((i) => {
      const at = i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
      let msg = i.message;
      if (i.code === 'unrecognized_keys') msg = `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
      else if (i.code === 'invalid_type' && i.received === 'undefined') msg = 'is required';
      return at ? `${at}: ${msg}` : msg;
    })
    .join('; ');
}

function checkUnique(cfg: ClusterConfig, source: string): void {
  const seen = new Map<string, string>();
  const roles: [string, { name: string }[]][] = [
    ['storage', cfg.storage],
    ['proxies', cfg.proxies],
    ['archives', cfg.archives],
  ];
  for (const [role, list] of roles) {
    list.forEach((s, i) => {
      const prev = seen.get(s.name);
      if (prev) throw new UsageError(`${source}: ${role}[${i}].name: "${s.name}" is also the name of ${prev}`);
      seen.set(s.name, `${role}[${i}]`);
    });
  }
}
