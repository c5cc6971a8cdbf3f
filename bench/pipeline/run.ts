/**
 * Pipeline benchmark (issue 5): the storage agent, the proxy and the archive as three real
 * processes on one host (bench/pipeline/cluster.ts), a volume written through its NBD export by
 * fio's nbd engine.
 *
 *   npm run bench:pipeline -- [--quick] [--only backup,ingest,memory] [--size 4G] [--seconds 40]
 *                             [--diff-size 1G] [--compressible 50] [--dir DIR] [--keep] [--no-build]
 *                             [--profile]
 *   = node --conditions=blockwal-source --import tsx bench/pipeline/run.ts ...
 *
 * 1. backup: cost of a backup after 5 % of the volume was rewritten by random 4 KiB writes, from
 *    the snapshot command to "restorable at the archive", against a full-scan incremental backup
 *    (bench/pipeline/full-scan.ts: read the whole volume, sha256 per 64 KiB, send the changed
 *    chunks to a receiver that writes and fsyncs) run in the same process run, page cache dropped
 *    before each scan. Three rounds: snapshot once the writes were shipped (CLI and gRPC), and
 *    right after the last write (CLI; gRPC with a 5 ms poll). Goal: blockwal ≤ 1/200 of the scan.
 * 2. ingest: write throughput the cluster keeps up with (fio, random 64 KiB-1 MiB writes, queue
 *    depth 16), with snappy and with zstd, at full speed, paced at 100 MB/s and paced at 80 % of
 *    what the full-speed run shipped, and the RPO (blockwal_archive_rpo_seconds) sampled every
 *    second. Goal: ≥ 100 MB/s with RPO ≤ 5 s.
 * 3. memory: peak RSS (VmHWM) of each server with a 1 GiB diff in flight (written while shipping
 *    was stopped, then shipped as one wlog → one wdiff → one PushDiff). Goal: ≤ 256 MiB each.
 *
 * Output: one JSON line per measurement on stdout, then a summary line (machine, load, commit,
 * the goals and the figures); progress on stderr. Sizes: MB = 10^6 bytes, MiB = 2^20 bytes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BenchCluster, ROOT, call, dropCaches, type Server } from './cluster.js';
import { fullScanBackup, startReceiver, type ScanResult } from './full-scan.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MB = 1e6;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    size: { type: 'string' },
    seconds: { type: 'string' },
    'diff-size': { type: 'string' },
    compressible: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean' },
    'no-build': { type: 'boolean' },
    profile: { type: 'boolean' },
    'pending-max': { type: 'string' },
  },
});

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  const mult = { '': 1, K: 1024, M: MiB, G: GiB, T: 1024 * GiB }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * mult);
}

const quick = !!args.quick;
const SIZE = parseSize(args.size ?? (quick ? '256M' : '4G'));
const SECONDS = Number(args.seconds ?? (quick ? 8 : 40));
const DIFF = parseSize(args['diff-size'] ?? (quick ? '128M' : '1G'));
const COMPRESSIBLE = Number(args.compressible ?? 50);
const DIR = path.resolve(args.dir ?? '/tmp/blockwal-bench-pipeline');
const ONLY = new Set((args.only ?? 'backup,ingest,memory').split(','));
/** The log ring of the backup and ingest volumes (the default for a 4 GiB volume: an eighth). */
const LOG_BYTES = 512 * MiB;
/** The storage agent settings of every cluster here (as the integration tests: implicit snapshots every second). */
const STORAGE = {
  snapshotIntervalMs: 1000,
  overflowPolicy: 'block',
  logSizeBytes: LOG_BYTES,
  ...(args['pending-max'] ? { pendingMaxBytes: parseSize(args['pending-max']) } : {}),
};

const results: Record<string, unknown>[] = [];
function emit(r: Record<string, unknown>): void {
  results.push(r);
  process.stdout.write(JSON.stringify(r) + '\n');
}
function note(s: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r1 = (x: number) => Math.round(x * 10) / 10;
const mbs = (bytes: number, s: number) => r1(bytes / MB / s);
const now = () => Number(process.hrtime.bigint()) / 1e9;
function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const median = (xs: number[]) => percentile(xs, 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ fio

interface FioResult {
  bytes: number;
  seconds: number;
  mbPerSec: number;
  iops: number;
  p50us: number;
  p99us: number;
  /** fio's own CPU use over its run time. */
  cpuPercent: number;
}

/** CPU seconds of the children this process has waited for (/proc/self/stat cutime + cstime). */
function childCpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / 100;
}

/**
 * Runs fio's nbd engine against a volume (asynchronously, so that samplers keep running). Every
 * run has its own random seeds (--randrepeat=0): offsets and data differ from one run to the next
 * (with fio's default, a second run rewrites the same blocks with the same bytes, and --randseed
 * does not change the offsets of a random map).
 */
function fio(uri: string, opts: string[]): Promise<FioResult> {
  return new Promise((resolve, reject) => {
    const a = ['--name=bench', '--ioengine=nbd', `--uri=${uri}`, '--output-format=json', '--randrepeat=0', ...opts];
    const cpu0 = childCpuSeconds();
    const child = spawn('fio', a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`fio ${a.join(' ')}: exit ${code}\n${err}`));
      const w = JSON.parse(out.slice(out.indexOf('{'))).jobs[0].write;
      const pct = w.clat_ns?.percentile ?? {};
      resolve({
        bytes: w.io_bytes,
        seconds: w.runtime / 1000,
        mbPerSec: r1(w.bw_bytes / MB),
        iops: Math.round(w.iops),
        p50us: Math.round((pct['50.000000'] ?? 0) / 1000),
        p99us: Math.round((pct['99.000000'] ?? 0) / 1000),
        cpuPercent: r1(((childCpuSeconds() - cpu0) / (w.runtime / 1000)) * 100),
      });
    });
  });
}

/** Random data, refilled for every write (no two writes alike). */
const RANDOM_DATA = ['--refill_buffers', '--buffer_compress_percentage=0'];
/** Data that compresses to about (100 - pct) % (fio: pct % of every 4 KiB is zeros). */
const compressibleData = (pct: number) => ['--refill_buffers', `--buffer_compress_percentage=${pct}`, '--buffer_compress_chunk=4k'];

// ------------------------------------------------------------------ system measurements

function diskOf(dir: string): string {
  const src = spawnSync('findmnt', ['-n', '-o', 'SOURCE', '--target', dir], { encoding: 'utf8' }).stdout.trim();
  return path.basename(src);
}

/** io_ticks (ms busy) and sectors written of a block device, from /proc/diskstats. */
function diskStats(dev: string): { busyMs: number; writtenBytes: number } | null {
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[2] === dev) return { busyMs: Number(f[12]), writtenBytes: Number(f[9]) * 512 };
  }
  return null;
}

/** Busy and total jiffies of all CPUs (/proc/stat; iowait counts as idle). */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** Command lines of test runs (mocha) on this machine, other than ours. */
function foreignTests(): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
      if (/mocha/.test(cmd) && !cmd.includes('bench/pipeline')) out.push(cmd.slice(0, 160));
    } catch {
      // gone
    }
  }
  return [...new Set(out)];
}


/** CPU use per server and of the machine, and the disk's busy time and writes, between start() and stop(). */
class Usage {
  private t0 = 0;
  private cpu0 = new Map<string, number>();
  private disk0: ReturnType<typeof diskStats> = null;
  private self0 = process.cpuUsage();
  private machine0 = cpuTimes();
  private children0 = 0;
  private tests0: string[] = [];

  constructor(
    private readonly servers: Server[],
    private readonly dev: string,
  ) {}

  start(): void {
    this.t0 = now();
    for (const s of this.servers) {
      this.cpu0.set(s.name, s.cpuSeconds());
    }
    this.disk0 = diskStats(this.dev);
    this.self0 = process.cpuUsage();
    this.machine0 = cpuTimes();
    this.children0 = childCpuSeconds();
    this.tests0 = foreignTests();
  }

  stop(): Record<string, unknown> {
    const dt = now() - this.t0;
    const cpu: Record<string, number> = {};
    for (const s of this.servers) {
      cpu[s.name] = r1(((s.cpuSeconds() - this.cpu0.get(s.name)!) / dt) * 100);
    }
    const d1 = diskStats(this.dev);
    const self = process.cpuUsage(this.self0);
    const m = cpuTimes();
    const ncpu = cpus().length;
    const machine = ((m.busy - this.machine0.busy) / (m.total - this.machine0.total)) * 100 * ncpu; // % of one core
    const children = ((childCpuSeconds() - this.children0) / dt) * 100; // fio, CLI commands
    const benchSelf = ((self.user + self.system) / 1e6 / dt) * 100;
    const servers = Object.values(cpu).reduce((a, b) => a + b, 0);
    return {
      seconds: r3(dt),
      // CPU in % of one core: the whole machine, and what is not the servers, fio or this process
      // (kernel threads such as writeback, and any other work running on the machine).
      machineCpuPercent: r1(machine),
      machineCores: ncpu,
      fioCpuPercent: r1(children),
      otherCpuPercent: r1(machine - servers - children - benchSelf),
      concurrentTests: [...new Set([...this.tests0, ...foreignTests()])],
      cpuPercent: cpu,
      benchCpuPercent: r1(((self.user + self.system) / 1e6 / dt) * 100),
      disk: d1 && this.disk0 ? { device: this.dev, busyPercent: r1(((d1.busyMs - this.disk0.busyMs) / 1000 / dt) * 100), writtenMBPerSec: mbs(d1.writtenBytes - this.disk0.writtenBytes, dt) } : null,
    };
  }
}

function peaks(c: BenchCluster): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of c.list) out[s.name] = r1(s.memory().hwm / MiB);
  return out;
}

function resetPeaks(c: BenchCluster): void {
  for (const s of c.list) s.resetPeak();
}

async function startCluster(name: string, o: Parameters<typeof BenchCluster.start>[1]): Promise<BenchCluster> {
  const dir = path.join(DIR, name);
  rmSync(dir, { recursive: true, force: true });
  const prof = args.profile ? path.join(DIR, 'profiles', name) : null;
  if (prof) mkdirSync(prof, { recursive: true });
  const nodeArgs = prof ? { storage: ['--cpu-prof', `--cpu-prof-dir=${prof}`], proxy: ['--cpu-prof', `--cpu-prof-dir=${prof}`], archive: ['--cpu-prof', `--cpu-prof-dir=${prof}`] } : undefined;
  return BenchCluster.start(dir, { ...o, ...(nodeArgs ? { nodeArgs } : {}) });
}

/** Stops a cluster; with --profile, prints where each server spent its time. */
async function stopCluster(c: BenchCluster, name: string): Promise<void> {
  const pids = new Map(c.list.map((s) => [s.pid, s.name]));
  await c.stop();
  if (!args.profile) return;
  const dir = path.join(DIR, 'profiles', name);
  for (const f of readdirSync(dir)) {
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(f)?.[1]); // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile
    const server = pids.get(pid);
    if (!server) continue;
    emit({ bench: 'profile', run: name, server, ...summarizeProfile(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))) });
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function (% of the profile's wall time; "(idle)" is the event loop waiting). */
function summarizeProfile(p: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }): Record<string, unknown> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const n = byId.get(p.samples[i]!)!;
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'}${f.url ? ` ${path.basename(f.url)}:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return { wallMs: Math.round(total), selfTop: top.map(([k, ms]) => `${r1((ms / total) * 100)}% ${k}`) };
}

// ------------------------------------------------------------------ 1. backup cost against a full scan

async function benchBackup(): Promise<void> {
  note(`backup: ${SIZE / GiB} GiB volume`);
  // WalB's default ring policy here: the fill overflows the ring on purpose (it is written faster
  // than it can be shipped) and a full backup of the filled volume follows, as for a volume that
  // comes under protection with data on it. The 5 % rewrites below fit in the ring (checked).
  const c = await startCluster('backup', { storage: { ...STORAGE, overflowPolicy: 'overflow' } });
  const receiverFile = path.join(DIR, 'backup', 'receiver.img');
  const receiver = await startReceiver(receiverFile);
  const checkState = async (vol: string) => {
    const v = await c.storageVolume(vol);
    if (v.state !== 'target') throw new Error(`volume ${vol} is ${v.state} (${v.lastError}): the measurement is void`);
  };
  try {
    const vol = 'vol';
    let t = now();
    await c.addVolume(vol, SIZE);
    await c.waitFullBackup(vol);
    const emptyBackup = now() - t;
    note(`backup: volume added (full backup of the empty volume ${r3(emptyBackup)} s); filling ${SIZE / GiB} GiB (1 MiB sequential writes, qd 16)`);
    t = now();
    const fill = await fio(c.nbdUri(vol), ['--rw=write', '--bs=1M', '--iodepth=16', `--size=${SIZE}`, ...RANDOM_DATA]);
    const stateAfterFill = (await c.storageVolume(vol)).state;
    note(`backup: filled in ${r3(now() - t)} s (${fill.mbPerSec} MB/s, volume ${stateAfterFill}); full backup`);
    const fullUsage = new Usage(c.list, diskOf(c.dir));
    fullUsage.start();
    t = now();
    await call(c.storage, 'fullBackup', { volume: vol });
    await c.waitFullBackup(vol);
    const full = now() - t;
    emit({ bench: 'backup', step: 'fill+full-backup', volumeBytes: SIZE, emptyVolumeFullBackupSeconds: r3(emptyBackup), fill: fill, stateAfterFill, fullBackupSeconds: r3(full), fullBackupMBPerSec: mbs(SIZE, full), usage: fullUsage.stop() });
    note(`backup: full backup of the filled volume restorable after ${r3(full)} s (${mbs(SIZE, full)} MB/s); first scan`);
    // The scan's previous state: the hashes of the whole volume now (a full backup of the scan tool).
    let prev: ScanResult = await fullScanBackup(c.dataFile(vol), SIZE, null, null);
    emit({ bench: 'backup', step: 'initial-scan', seconds: r3(prev.seconds), note: 'hashes only (page cache not dropped); the previous state of the incremental scans' });

    const rewrite = Math.floor((SIZE * 0.05) / 4096) * 4096;
    const rounds = [
      { round: 'streamed', how: 'writes shipped while written; once everything is at the archive, `blockwal snapshot VOL --wait` (CLI process), then TakeSnapshot(wait) over gRPC' },
      { round: 'immediate-cli', how: '`blockwal snapshot VOL --wait` (CLI process) right after the last write was acknowledged (includes shipping what was not shipped yet)' },
      { round: 'immediate-grpc', how: 'TakeSnapshot over gRPC right after the last write, then ListSnapshots polled every 5 ms at the archive (no CLI start-up, no 250 ms wait poll)' },
    ];
    const scans: number[] = [];
    for (const { round, how } of rounds) {
      note(`backup: round ${round}: rewriting ${r1(rewrite / MB)} MB by random 4 KiB writes`);
      const roundUsage = new Usage(c.list, diskOf(c.dir));
      roundUsage.start();
      const t0 = now();
      const w = await fio(c.nbdUri(vol), ['--rw=randwrite', '--bs=4k', '--iodepth=16', `--size=${SIZE}`, `--io_size=${rewrite}`, ...RANDOM_DATA]);
      const tEnd = now();
      await checkState(vol);
      const r: Record<string, unknown> = { bench: 'backup', round, how, volumeBytes: SIZE, rewriteBytes: rewrite, writes: w, writesSeconds: r3(tEnd - t0) };
      const unsent = Number((await c.storageVolume(vol)).unsentBytes);
      const spool = Number((await call(c.proxy, 'getProxyStatus', {})).spoolBytes);
      r.atWriteEnd = { agentUnsentMB: r1(unsent / MB), proxySpoolMB: r1(spool / MB) };
      if (round === 'streamed') {
        await c.waitDrained(vol);
        r.shipLagSeconds = r3(now() - tEnd); // from the last write's ack until everything is stored at the archive
        const cli = c.cli('s0', ['snapshot', vol, '--wait']);
        const t1 = now();
        await c.snapshot(vol, true);
        r.blockwal = { cliSeconds: r3(cli.seconds), grpcSeconds: r3(now() - t1) };
        r.blockwalSeconds = r3(cli.seconds);
      } else if (round === 'immediate-cli') {
        const cli = c.cli('s0', ['snapshot', vol, '--wait']);
        r.blockwal = { cliSeconds: r3(cli.seconds) };
        r.blockwalSeconds = r3(cli.seconds);
      } else {
        const t1 = now();
        const gid = await c.snapshot(vol, false);
        const tTaken = now();
        await c.waitRestorable(vol, gid, 5);
        r.blockwal = { takeSnapshotSeconds: r3(tTaken - t1), restorableSeconds: r3(now() - t1) };
        r.blockwalSeconds = r3(now() - t1);
      }
      await c.waitDrained(vol); // nothing of blockwal runs during the scan
      await checkState(vol);
      const dropped = dropCaches();
      const scan = await fullScanBackup(c.dataFile(vol), SIZE, prev.hashes, receiver.port);
      prev = scan;
      scans.push(scan.seconds);
      r.fullScan = { seconds: r3(scan.seconds), changedChunks: scan.changedChunks, sentBytes: scan.sentBytes, readMBPerSec: mbs(SIZE, scan.seconds), pageCacheDropped: dropped };
      r.ratio = r3((r.blockwalSeconds as number) / scan.seconds);
      r.goal = 'blockwal ≤ 1/200 (0.005) of the full scan';
      r.load1 = r1(loadavg()[0]!);
      r.usage = roundUsage.stop(); // the whole round: writes, blockwal, scan
      emit(r);
      note(`backup: ${round}: blockwal ${r.blockwalSeconds} s, full scan ${r3(scan.seconds)} s (${scan.changedChunks} chunks changed), ratio ${r.ratio}`);
    }
  } finally {
    await receiver.close();
    await stopCluster(c, 'backup');
  }
}

// ------------------------------------------------------------------ 2. sustained ingest

interface Sample {
  t: number;
  rpo: number | null;
  shipped: number;
  unsent: number;
  logUsage: number;
  spool: number;
  archived: number;
}

/** Samples the RPO (archive metric) and the bytes at each hop every second. */
function sampler(c: BenchCluster): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let running = true;
  const t0 = now();
  const loop = (async () => {
    while (running) {
      const next = Date.now() + 1000;
      try {
        const [a, s, p] = await Promise.all([c.metrics('a0'), c.metrics('s0'), c.metrics('p0')]);
        const rpo = a.get('blockwal_archive_rpo_seconds'); // the one volume of the cluster
        samples.push({
          t: r1(now() - t0),
          rpo: rpo === undefined ? null : r1(rpo),
          shipped: s.get('blockwal_storage_shipped_bytes_total') ?? 0,
          unsent: s.get('blockwal_storage_unsent_bytes') ?? 0,
          logUsage: s.get('blockwal_storage_log_usage_bytes') ?? 0,
          spool: p.get('blockwal_proxy_spool_bytes') ?? 0,
          archived: a.get('blockwal_archive_received_bytes_total') ?? 0,
        });
      } catch (e) {
        note(`sampler: ${(e as Error).message}`);
      }
      await sleep(Math.max(0, next - Date.now()));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

async function benchIngest(): Promise<void> {
  const volSize = Math.min(SIZE, 4 * GiB);
  for (const comp of ['snappy', 'zstd']) {
    note(`ingest ${comp}: starting the cluster`);
    const c = await startCluster(`ingest-${comp}`, { storage: STORAGE, proxy: { spoolCompression: comp }, proxyArchive: { compression: comp } });
    try {
      const vol = 'vol';
      await c.addVolume(vol, volSize);
      await c.waitFullBackup(vol);
      const usage = new Usage(c.list, diskOf(c.dir));
      // Full speed; paced at the goal (100 MB/s); paced at 80 % of what the full-speed run shipped
      // end to end (what the cluster should keep up with, RPO bounded).
      let fullShipped = 0;
      for (const kind of ['full', 'goal', 'sustainable'] as const) {
        const pace = kind === 'full' ? null : kind === 'goal' ? 100 : Math.max(1, Math.floor(fullShipped * 0.8));
        const run = pace === null ? 'full-speed' : `paced-${pace}MBps`;
        note(`ingest ${comp} ${run}: ${SECONDS} s of random 64 KiB-1 MiB writes, qd 16, ${COMPRESSIBLE} % compressible`);
        await c.waitDrained(vol);
        const s0 = await c.metrics('s0');
        const a0 = await c.metrics('a0');
        resetPeaks(c);
        const smp = sampler(c);
        usage.start();
        const t0 = now();
        const w = await fio(c.nbdUri(vol), [
          '--rw=randwrite', '--bsrange=64k-1m', '--blockalign=64k', '--iodepth=16', `--size=${volSize}`, '--time_based', `--runtime=${SECONDS}`,
          ...compressibleData(COMPRESSIBLE), ...(pace ? [`--rate=${pace * MB}`] : []),
        ]);
        const tEnd = now();
        const writing = usage.stop();
        const gid = await c.snapshot(vol, false);
        await c.waitRestorable(vol, gid, 10);
        const tDone = now();
        const samples = await smp.stop();
        const s1 = await c.metrics('s0');
        const a1 = await c.metrics('a0');
        // The RPO metric is the age of the newest restorable snapshot. Everything written before the
        // run was restorable when it started (drained), so at t seconds into the run at most
        // min(metric, t) seconds of writes are at risk: an idle volume makes no snapshots, and the
        // metric's first samples would otherwise count the idle time before the run.
        const inRun = samples.filter((x) => x.t <= tEnd - t0 && x.rpo !== null);
        const during = inRun.map((x) => r1(Math.min(x.rpo!, x.t)));
        const shippedWlog = (s1.get('blockwal_storage_shipped_bytes_total') ?? 0) - (s0.get('blockwal_storage_shipped_bytes_total') ?? 0);
        const archived = (a1.get('blockwal_archive_received_bytes_total') ?? 0) - (a0.get('blockwal_archive_received_bytes_total') ?? 0);
        const maxLog = Math.max(...samples.map((x) => x.logUsage));
        if (kind === 'full') fullShipped = w.bytes / MB / (tDone - t0);
        emit({
          bench: 'ingest',
          compression: comp,
          run,
          pacedMBPerSec: pace,
          volumeBytes: volSize,
          compressiblePercent: COMPRESSIBLE,
          writtenMBPerSec: w.mbPerSec,
          writtenBytes: w.bytes,
          fio: w,
          // Written bytes over the time from the first write to "everything written is restorable".
          shippedMBPerSec: mbs(w.bytes, tDone - t0),
          restorableAfterWritesSeconds: r3(tDone - tEnd),
          wlogMBPerSec: mbs(shippedWlog, tDone - t0),
          archiveReceivedMBPerSec: mbs(archived, tDone - t0),
          wdiffToWrittenRatio: r3(archived / w.bytes),
          rpoSeconds: { p50: median(during), max: Math.max(...during), samples: during.length, series: during, metricSeries: inRun.map((x) => x.rpo) },
          logRingMaxUsedPercent: r1((maxLog / LOG_BYTES) * 100),
          peakRssMiB: peaks(c),
          usage: writing,
          goal: '≥ 100 MB/s written and shipped with RPO ≤ 5 s',
          load1: r1(loadavg()[0]!),
        });
        note(`ingest ${comp} ${run}: written ${w.mbPerSec} MB/s, restorable ${r3(tDone - tEnd)} s after the last write (${mbs(w.bytes, tDone - t0)} MB/s end to end), RPO p50 ${median(during)} s max ${Math.max(...during)} s`);
      }
    } finally {
      await stopCluster(c, `ingest-${comp}`);
    }
  }
}

// ------------------------------------------------------------------ 3. peak RSS with a 1 GiB diff in flight

async function benchMemory(): Promise<void> {
  const volSize = 2 * DIFF;
  const logBytes = Math.ceil((DIFF * 1.5) / MiB) * MiB;
  note(`memory: ${DIFF / MiB} MiB diff in flight (volume ${volSize / MiB} MiB, log ${logBytes / MiB} MiB)`);
  // One wlog chunk for the whole diff (chunkMaxBytes above it): the proxy converts and forwards one
  // wdiff of the whole diff, the archive receives and verifies it as one PushDiff.
  const c = await startCluster('memory', { logLevel: 'info', storage: { ...STORAGE, logSizeBytes: logBytes, chunkMaxBytes: 2 * DIFF + 64 * MiB } });
  try {
    const vol = 'vol';
    await c.addVolume(vol, volSize);
    await c.waitFullBackup(vol);
    const patterns = [
      { pattern: '1 MiB sequential writes', fio: ['--rw=write', '--bs=1M', '--iodepth=16', `--size=${DIFF}`] },
      { pattern: '4 KiB random writes (no block twice)', fio: ['--rw=randwrite', '--bs=4k', '--iodepth=16', `--size=${volSize}`, `--io_size=${DIFF}`] },
    ];
    for (const p of patterns) {
      await c.waitDrained(vol);
      await call(c.storage, 'stopVolume', { volume: vol });
      resetPeaks(c);
      const w = await fio(c.nbdUri(vol), [...p.fio, ...RANDOM_DATA]);
      const gid = await c.snapshot(vol, false);
      const duringWrites = peaks(c);
      resetPeaks(c);
      const use = new Usage(c.list, diskOf(c.dir));
      use.start();
      const t0 = now();
      const t0ms = Date.now();
      let maxRss: Record<string, number> = {};
      const watch = setInterval(() => {
        for (const s of c.list) maxRss[s.name] = Math.max(maxRss[s.name] ?? 0, r1(s.memory().rss / MiB));
      }, 100);
      await call(c.storage, 'startVolume', { volume: vol });
      await c.waitRestorable(vol, gid, 10);
      const seconds = now() - t0;
      const shipUsage = use.stop();
      clearInterval(watch);
      const duringShipping = peaks(c);
      const a = await c.metrics('a0');
      const peak: Record<string, number> = {};
      for (const s of c.list) peak[s.name] = Math.max(duringWrites[s.name]!, duringShipping[s.name]!);
      emit({
        bench: 'memory',
        pattern: p.pattern,
        diffBytes: w.bytes,
        fio: w,
        shipSeconds: r3(seconds),
        shipMBPerSec: mbs(w.bytes, seconds),
        archiveDiffs: a.get('blockwal_archive_diffs') ?? null,
        peakRssMiB: peak,
        vmHwmMiB: { writing: duringWrites, shipping: duringShipping },
        sampledMaxRssMiB: maxRss,
        // Where the time of the one transfer goes, from the servers' logs (seconds after StartVolume).
        events: c.events(t0ms),
        usage: shipUsage,
        goal: 'VmHWM ≤ 256 MiB for each server',
        load1: r1(loadavg()[0]!),
      });
      maxRss = {};
      note(`memory: ${p.pattern}: shipped ${r1(w.bytes / MiB)} MiB as one diff in ${r3(seconds)} s; VmHWM ${JSON.stringify(peak)} MiB`);
    }
  } finally {
    await stopCluster(c, 'memory');
  }
}

// ------------------------------------------------------------------ main

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', 'packages'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() ? '+dirty' : '';
  return r.stdout.trim() + dirty;
}

async function main(): Promise<void> {
  const t0 = now();
  if (!args['no-build']) {
    note('building the CLI (npm run build; --no-build skips)');
    const b = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (b.status !== 0) throw new Error('npm run build failed');
  }
  if (spawnSync('fio', ['--enghelp=nbd']).status !== 0) throw new Error('fio with the nbd engine is needed (Debian: apt-get install fio)');
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const loadStart = loadavg().map(r1);
  const disk = diskOf(DIR);
  try {
    if (ONLY.has('backup')) await benchBackup();
    if (ONLY.has('ingest')) await benchIngest();
    if (ONLY.has('memory')) await benchMemory();
  } finally {
    if (!args.keep) rmSync(DIR, { recursive: true, force: true });
  }
  const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' }).stdout;
  const backup = results.filter((r) => r.bench === 'backup' && r.round);
  const ingest = results.filter((r) => r.bench === 'ingest');
  const memory = results.filter((r) => r.bench === 'memory');
  emit({
    bench: 'pipeline',
    summary: {
      backup: backup.map((r) => ({ round: r.round, blockwalSeconds: r.blockwalSeconds, fullScanSeconds: (r.fullScan as { seconds: number }).seconds, ratio: r.ratio, shipLagSeconds: r.shipLagSeconds })),
      ingest: ingest.map((r) => ({ compression: r.compression, run: r.run, writtenMBPerSec: r.writtenMBPerSec, shippedMBPerSec: r.shippedMBPerSec, rpoP50: (r.rpoSeconds as { p50: number }).p50, rpoMax: (r.rpoSeconds as { max: number }).max })),
      memory: memory.map((r) => ({ pattern: r.pattern, peakRssMiB: r.peakRssMiB })),
    },
    options: { quick, size: SIZE, seconds: SECONDS, diffSize: DIFF, compressiblePercent: COMPRESSIBLE, dir: DIR, storage: STORAGE },
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cpu: /Model name:\s+(.*)/.exec(lscpu)?.[1] ?? cpus()[0]?.model, cores: cpus().length, memoryGiB: r1(totalmem() / GiB), node: process.version, disk },
    load: { start: loadStart, end: loadavg().map(r1) },
    totalSeconds: r1(now() - t0),
  });
}

await main();
