/**
 * A blockwal cluster of real processes for integration and fault tests: each server is a
 * `blockwal storage|proxy|archive --config FILE --name NAME` child process, gRPC over unix
 * sockets in a scratch directory, NBD on a loopback port chosen up front (so a restarted agent
 * serves its volumes at the same URI). Servers can be killed (SIGKILL) and restarted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BLOCKWAL_BIN, blockwal, type CliResult } from './cli.js';

export type Role = 'storage' | 'proxy' | 'archive';

export interface ClusterSpec {
  proxies?: number;
  archives?: number;
  /** Extra YAML keys for the storage agent / each proxy / each archive (indented by the caller's needs). */
  storage?: Record<string, string | number>;
  proxy?: Record<string, string | number>;
  archive?: Record<string, string | number>;
  /** Forward each proxy's spool to every archive (default: only a0). */
  allArchives?: boolean;
  metrics?: boolean;
  /** Mutual TLS for every server, and for the admin commands run through admin(). */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** YAML lines `key: value` for extra config keys, each prefixed with `indent`. */
export function yamlMap(m: Record<string, string | number> | undefined, indent: string): string {
  return Object.entries(m ?? {})
    .map(([k, v]) => `${indent}${k}: ${typeof v === 'number' ? v : JSON.stringify(v)}\n`)
    .join('');
}

export class TestCluster {
  readonly procs = new Map<string, ServerProc>();
  readonly nbdPort: number;
  readonly configFile: string;
  readonly proxies: string[];
  readonly archives: string[];
  readonly tls: ClusterSpec['tls'];

  private constructor(
    readonly dir: string,
    nbdPort: number,
    spec: ClusterSpec,
  ) {
    this.nbdPort = nbdPort;
    this.proxies = Array.from({ length: spec.proxies ?? 1 }, (_, i) => `p${i}`);
    this.archives = Array.from({ length: spec.archives ?? 1 }, (_, i) => `a${i}`);
    this.tls = spec.tls;
    mkdirSync(path.join(dir, 'run'), { recursive: true });
    const metrics = (port: number | null) => (spec.metrics && port !== null ? `127.0.0.1:0` : 'null');
    const peers = (names: string[]) => `[${names.map((n) => `{ name: ${n}, address: "${this.address(n)}" }`).join(', ')}]`;
    let y = `dataDir: ${JSON.stringify(path.join(dir, 'data'))}\nlog: { level: info }\n`;
    if (spec.tls) y += `tls: ${JSON.stringify(spec.tls)}\n`;
    y += `storage:\n  - name: s0\n    listen: "${this.address('s0')}"\n    metricsListen: ${metrics(1)}\n    nbdListen: 127.0.0.1:${nbdPort}\n`;
    y += `    proxies: ${peers(this.proxies)}\n    archive: { name: a0, address: "${this.address('a0')}" }\n`;
    y += `    snapshotIntervalMs: 1000\n    retryMinMs: 100\n    retryMaxMs: 1000\n    proxyDownMs: 1000\n` + yamlMap(spec.storage, '    ');
    y += 'proxies:\n';
    for (const p of this.proxies) {
      y += `  - name: ${p}\n    listen: "${this.address(p)}"\n    metricsListen: ${metrics(1)}\n    archives: ${peers(spec.allArchives ? this.archives : ['a0'])}\n    retryMinMs: 100\n    retryMaxMs: 1000\n` + yamlMap(spec.proxy, '    ');
    }
    y += 'archives:\n';
    for (const a of this.archives) y += `  - name: ${a}\n    listen: "${this.address(a)}"\n    metricsListen: ${metrics(1)}\n` + yamlMap(spec.archive, '    ');
    this.configFile = path.join(dir, 'cluster.yaml');
    writeFileSync(this.configFile, y);
  }

  static async create(dir: string, spec: ClusterSpec = {}): Promise<TestCluster> {
    return new TestCluster(dir, await freePort(), spec);
  }

  address(name: string): string {
    return `unix:${path.join(this.dir, 'run', `${name}.sock`)}`;
  }

  roleOf(name: string): Role {
    return name.startsWith('s') ? 'storage' : name.startsWith('p') ? 'proxy' : 'archive';
  }

  /** Starts every server (archives, proxies, then the agent). */
  async startAll(): Promise<void> {
    for (const a of this.archives) await this.start(a);
    for (const p of this.proxies) await this.start(p);
    await this.start('s0');
  }

  async start(name: string): Promise<ServerProc> {
    const prev = this.procs.get(name);
    if (prev && prev.running) throw new Error(`${name} is already running`);
    const proc = await ServerProc.start(this.roleOf(name), name, this.configFile);
    this.procs.set(name, proc);
    return proc;
  }

  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.procs.get(name)?.kill(signal);
  }

  async restart(name: string): Promise<void> {
    await this.kill(name);
    await this.start(name);
  }

  async stopAll(): Promise<void> {
    for (const n of ['s0', ...this.proxies, ...this.archives]) await this.procs.get(n)?.kill('SIGTERM');
  }

  /** Output of every server so far (for failure messages). */
  logs(): string {
    return [...this.procs.entries()].map(([n, p]) => `==== ${n}\n${p.output().slice(-8000)}`).join('\n');
  }

  /** Runs an admin command against a server of this cluster (`--server` given). */
  admin(server: string, args: string[]): CliResult {
    const tls = this.tls ? ['--tls-cert', this.tls.certFile, '--tls-key', this.tls.keyFile, '--tls-ca', this.tls.caFile] : [];
    return blockwal([...args, '--server', this.address(server), ...tls]);
  }

  nbdUri(volume: string): string {
    return `nbd://127.0.0.1:${this.nbdPort}/${volume}`;
  }
}

export class ServerProc {
  running = true;
  private out = '';
  readonly exited: Promise<number | string>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.running = false;
        resolve(code ?? signal ?? -1);
      }),
    );
  }

  static async start(role: Role, name: string, configFile: string): Promise<ServerProc> {
    const child = spawn(process.execPath, [BLOCKWAL_BIN, role, '--config', configFile, '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new ServerProc(child);
    const ready = `${role} ${name}: `;
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (p.out.includes(ready)) {
          clearInterval(t);
          resolve();
        }
      }, 10);
      void p.exited.then((c) => {
        clearInterval(t);
        reject(new Error(`${role} ${name} exited (${c}) before listening:\n${p.out}`));
      });
    });
    return p;
  }

  output(): string {
    return this.out;
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    await this.exited;
  }
}
