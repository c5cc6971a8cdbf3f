/**
 * A one-host blockwal cluster for the pipeline benchmark: `blockwal storage|proxy|archive --config
 * F --name N` as three child processes (the built CLI, as users run it), gRPC on unix sockets,
 * NBD and Prometheus metrics on loopback ports. Like test/support/cluster.ts, but the config keys
 * a benchmark varies (compression, log size, chunk sizes) are parameters, and the benchmark
 * talks gRPC to the servers directly (no process start per question).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { ArchiveServiceClient, ProxyServiceClient, StorageServiceClient, channelCredentials, clientOptions, fromServiceError, reasonFromWire } from '@blockwal/proto';

import { BLOCKWAL_BIN } from '../../test/support/cli.js';
import { freePort, yamlMap, type Role } from '../../test/support/cluster.js';
import { REPO_ROOT as ROOT } from '../../test/support/vectors.js';

export { ROOT };
type Keys = Record<string, string | number>;

export interface ClusterOptions {
  /** Extra YAML keys of the storage agent, the proxy, the proxy's archive entry, the archive. */
  storage?: Keys;
  proxy?: Keys;
  proxyArchive?: Keys;
  archive?: Keys;
  logLevel?: string;
  /** Extra node options of the server processes (e.g. --cpu-prof), by role. */
  nodeArgs?: Partial<Record<Role, string[]>>;
}

const inline = (m: Keys | undefined) =>
  Object.entries(m ?? {})
    .map(([k, v]) => `, ${k}: ${typeof v === 'number' ? v : JSON.stringify(v)}`)
    .join('');

type Unary<C> = { [K in keyof C]: C[K] extends (req: infer Q, cb: grpc.requestCallback<infer R>) => grpc.ClientUnaryCall ? [Q, R] : never };

/** A unary call as a promise with a deadline. */
export function call<C extends grpc.Client, K extends keyof C & string>(client: C, method: K, req: Unary<C>[K][0], timeoutMs = 30_000): Promise<NonNullable<Unary<C>[K][1]>> {
  return new Promise((resolve, reject) => {
    const f = client[method] as unknown as (req: unknown, o: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => unknown;
    f.call(client, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(fromServiceError(err, client.getChannel().getTarget())) : resolve(res as NonNullable<Unary<C>[K][1]>)));
  });
}

export class Server {
  private tail = '';
  running = true;
  readonly exited: Promise<number | string>;
  metricsUrl = '';

  constructor(
    readonly role: Role,
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (d: Buffer) => {
      this.tail = (this.tail + d.toString()).slice(-2_000_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.running = false;
        resolve(code ?? signal ?? -1);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  output(): string {
    return this.tail;
  }

  /** VmHWM and VmRSS of the process in bytes (from /proc/PID/status). */
  memory(): { hwm: number; rss: number } {
    const s = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  }

  /** Resets VmHWM to the current RSS (`echo 5 > /proc/PID/clear_refs`, root or owner). */
  resetPeak(): void {
    writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
  }

  /** CPU seconds used so far (user + system, /proc/PID/stat). */
  cpuSeconds(): number {
    const f = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(t);
  }
}

export class BenchCluster {
  readonly servers: Record<'s0' | 'p0' | 'a0', Server> = {} as never;
  storage!: InstanceType<typeof StorageServiceClient>;
  proxy!: InstanceType<typeof ProxyServiceClient>;
  archive!: InstanceType<typeof ArchiveServiceClient>;
  readonly configFile: string;

  private constructor(
    readonly dir: string,
    readonly nbdPort: number,
    private readonly o: ClusterOptions,
  ) {
    mkdirSync(path.join(dir, 'run'), { recursive: true });
    const addr = (n: string) => `unix:${path.join(dir, 'run', `${n}.sock`)}`;
    let y = `dataDir: ${JSON.stringify(path.join(dir, 'data'))}\nlog: { level: ${o.logLevel ?? 'warn'} }\n`;
    y += `storage:\n  - name: s0\n    listen: "${addr('s0')}"\n    metricsListen: 127.0.0.1:0\n    nbdListen: 127.0.0.1:${nbdPort}\n`;
    y += `    proxies: [{ name: p0, address: "${addr('p0')}" }]\n    archive: { name: a0, address: "${addr('a0')}" }\n` + yamlMap(o.storage, '    ');
    y += `proxies:\n  - name: p0\n    listen: "${addr('p0')}"\n    metricsListen: 127.0.0.1:0\n`;
    y += `    archives: [{ name: a0, address: "${addr('a0')}"${inline(o.proxyArchive)} }]\n` + yamlMap(o.proxy, '    ');
    y += `archives:\n  - name: a0\n    listen: "${addr('a0')}"\n    metricsListen: 127.0.0.1:0\n` + yamlMap(o.archive, '    ');
    this.configFile = path.join(dir, 'cluster.yaml');
    writeFileSync(this.configFile, y);
  }

  static async start(dir: string, o: ClusterOptions = {}): Promise<BenchCluster> {
    const c = new BenchCluster(dir, await freePort(), o);
    try {
      for (const [role, name] of [['archive', 'a0'], ['proxy', 'p0'], ['storage', 's0']] as const) c.servers[name] = await c.spawn(role, name);
    } catch (e) {
      await c.stop();
      throw e;
    }
    const creds = channelCredentials();
    const opts = clientOptions({ 'grpc.max_reconnect_backoff_ms': 1000 });
    const a = (n: string) => `unix:${path.join(dir, 'run', `${n}.sock`)}`;
    c.storage = new StorageServiceClient(a('s0'), creds, opts);
    c.proxy = new ProxyServiceClient(a('p0'), creds, opts);
    c.archive = new ArchiveServiceClient(a('a0'), creds, opts);
    return c;
  }

  private async spawn(role: Role, name: string): Promise<Server> {
    const child = spawn(process.execPath, [...(this.o.nodeArgs?.[role] ?? []), BLOCKWAL_BIN, role, '--config', this.configFile, '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const s = new Server(role, name, child);
    const ready = new RegExp(`^${role} ${name}: .*?(?:metrics (http://\\S+))?$`, 'm');
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        const m = ready.exec(s.output());
        if (m) {
          clearInterval(t);
          s.metricsUrl = m[1] ?? '';
          resolve();
        }
      }, 10);
      void s.exited.then((code) => {
        clearInterval(t);
        reject(new Error(`${role} ${name} exited (${code}) before listening:\n${s.output()}`));
      });
    });
    return s;
  }

  get list(): Server[] {
    return [this.servers.s0, this.servers.p0, this.servers.a0].filter((s) => s !== undefined);
  }

  nbdUri(volume: string): string {
    return `nbd://127.0.0.1:${this.nbdPort}/${volume}`;
  }

  dataFile(volume: string): string {
    return path.join(this.dir, 'data', 's0', 'volumes', volume, 'data.img');
  }

  /** Runs the real `blockwal` admin command against one server; returns the wall seconds. */
  cli(server: 's0' | 'p0' | 'a0', args: string[]): { seconds: number; stdout: string } {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [BLOCKWAL_BIN, ...args, '--server', `unix:${path.join(this.dir, 'run', `${server}.sock`)}`], { encoding: 'utf8' });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`blockwal ${args.join(' ')}: exit ${r.status}: ${r.stderr}\n${this.logs()}`);
    return { seconds, stdout: r.stdout };
  }

  /** Prometheus metrics of a server, as `name{labels}` → value (summed over the other labels when `sum`). */
  async metrics(server: 's0' | 'p0' | 'a0'): Promise<Map<string, number>> {
    const res = await fetch(`${this.servers[server].metricsUrl}`);
    const text = await res.text();
    const m = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const sp = line.lastIndexOf(' ');
      const key = line.slice(0, sp);
      const name = key.replace(/\{.*$/, '');
      const v = Number(line.slice(sp + 1));
      m.set(key, v);
      m.set(name, (key === name ? 0 : (m.get(name) ?? 0)) + v);
    }
    return m;
  }

  async addVolume(volume: string, size: number): Promise<void> {
    await call(this.storage, 'addVolume', { volume, size }, 120_000);
  }

  /** TakeSnapshot over gRPC; with wait, until restorable at the archive. */
  async snapshot(volume: string, wait: boolean, timeoutSeconds = 600): Promise<number> {
    const r = await call(this.storage, 'takeSnapshot', { volume, wait, timeoutSeconds }, (timeoutSeconds + 30) * 1000);
    const reason = reasonFromWire(r.reason);
    if (reason || (wait && !r.restorable)) throw new Error(`snapshot of ${volume}: ${reason} ${r.message}`);
    return Number(r.gid);
  }

  /** Waits for the end of the volume's full backup (state target), then for a restorable snapshot. */
  async waitFullBackup(volume: string, timeoutMs = 600_000): Promise<number> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.storageVolume(volume);
      if (v.state === 'target') break;
      if (v.state !== 'full-sync' && v.state !== 'sync-ready') throw new Error(`volume ${volume} is ${v.state}: ${v.lastError}\n${this.logs()}`);
      if (Date.now() > until) throw new Error(`full backup of ${volume} not done within ${timeoutMs} ms\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.snapshot(volume, true);
  }

  async restorableGids(volume: string): Promise<number[]> {
    const r = await call(this.archive, 'listSnapshots', { volume, all: true });
    return r.snapshots.map((s) => Number(s.gid));
  }

  /** Polls the archive until `gid` is restorable; returns when it is (poll every `pollMs`). */
  async waitRestorable(volume: string, gid: number, pollMs = 5, timeoutMs = 600_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.restorableGids(volume)).includes(gid)) return;
      if (Date.now() > until) throw new Error(`gid ${gid} of ${volume} not restorable within ${timeoutMs} ms\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async storageVolume(volume: string) {
    const r = await call(this.storage, 'listStorageVolumes', {});
    const v = r.volumes.find((x) => x.volume === volume);
    if (!v) throw new Error(`no volume ${volume} at the agent`);
    return v;
  }

  /**
   * Whether everything captured so far is at the archive: nothing unsent in the agent, nothing
   * spooled in the proxy, and the archive's latest gid is the agent's latest.
   */
  async drained(volume: string): Promise<boolean> {
    const v = await this.storageVolume(volume);
    if (Number(v.unsentBytes) > 0 || Number(v.shippedGid) !== Number(v.latestGid)) return false;
    const p = await call(this.proxy, 'getProxyStatus', {});
    if (Number(p.spoolBytes) > 0) return false;
    const a = await call(this.archive, 'listArchiveVolumes', {});
    const av = a.volumes.find((x) => x.volume === volume);
    return !!av && Number(av.latest?.gidE ?? -1) === Number(v.latestGid);
  }

  async waitDrained(volume: string, pollMs = 10, timeoutMs = 600_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!(await this.drained(volume))) {
      if (Date.now() > until) throw new Error(`${volume} not drained within ${timeoutMs} ms\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /**
   * The shipping events the servers logged (log level info) since `sinceMs` (epoch ms): the
   * agent's "wlog shipped" (the proxy's ack arrived), the proxy's "wlog spooled" (the wlog is
   * durable in the spool) and "diff forwarded", the archive's "diff stored"; seconds after sinceMs.
   */
  events(sinceMs: number): { server: string; msg: string; seconds: number; bytes?: number; diff?: string }[] {
    const wanted = new Set(['wlog shipped', 'wlog spooled', 'diff forwarded', 'diff stored']);
    const out: { server: string; msg: string; seconds: number; bytes?: number; diff?: string }[] = [];
    for (const s of this.list) {
      for (const line of s.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        let o: { msg?: string; time?: string; bytes?: number; wlogBytes?: number; diff?: string; gidE?: number };
        try {
          o = JSON.parse(line);
        } catch {
          continue;
        }
        const t = Date.parse(o.time ?? '');
        if (!o.msg || !wanted.has(o.msg) || !(t >= sinceMs)) continue;
        out.push({ server: s.name, msg: o.msg, seconds: Math.round(t - sinceMs) / 1000, bytes: o.bytes ?? o.wlogBytes, ...(o.diff ? { diff: o.diff } : {}) });
      }
    }
    return out.sort((a, b) => a.seconds - b.seconds);
  }

  logs(): string {
    return this.list.map((s) => `==== ${s.name}\n${s.output().slice(-6000)}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const c of [this.storage, this.proxy, this.archive]) c?.close();
    for (const n of ['s0', 'p0', 'a0'] as const) await this.servers[n]?.stop();
  }
}

export function dropCaches(): boolean {
  spawnSync('sync');
  if (!existsSync('/proc/sys/vm/drop_caches')) return false;
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}
