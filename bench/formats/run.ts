/**
 * The format benchmark: whole `blockwal` processes on the inputs of PERF.md, side by side with
 * the C++ walb-tools figures.
 *
 *   node --conditions=blockwal-source --import tsx bench/formats/run.ts \
 *     [--dir DIR] [--runs N] [--only NAME,...] [--size-mib N] [--no-build] [--keep] [--table FILE] [--floor]
 *
 * (`npm run bench:formats -- ...`). Builds the CLI (`npm run build`: tsc and the bundle) unless --no-build,
 * generates the inputs once into DIR (default /dev/shm/blockwal-bench, reused when the recorded
 * seed/size match), then for each operation: 1 warm-up + N runs (default 3) of
 * `node packages/cli/bin/blockwal.js ...` under /usr/bin/time; median wall time, peak RSS.
 * One JSON record per line on stdout, then a summary line; a markdown table on stderr (and in
 * --table FILE). Progress goes to stderr. MB = 10^6 bytes.
 *
 * --floor also measures, after each operation, its floor (floor.ts: node start + the I/O it cannot
 * avoid) and the best ratio any implementation could reach on this machine.
 *
 * --only takes ops (to-wdiff-sorted, to-wdiff-indexed, wdiff-redo-sorted, wdiff-redo-indexed,
 * wlog-redo, wlog-redo-zero, merge-none, merge-snappy, merge-zstd, merge, virt-full-cat), inputs
 * (a, b, c, d, m) or op:input, comma separated.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureInputs, inputSizes, type InputName } from './generate.js';
import { measureFloor } from './floor.js';
import { allBenches, ensureWork, neededInputs, rmf, selectBenches, timeBlockwal, type Bench, type Ctx, type RunResult } from './ops.js';

export interface Measurement {
  bench: 'formats';
  input: string;
  op: string;
  bytesIn: number;
  bytesOut: number | null;
  seconds: number;
  mbPerSecIn: number | null;
  mbPerSecOut: number | null;
  peakRssMiB: number;
  cppMbPerSec: number | null;
  ratio: number | null;
  /** Which side cppMbPerSec and ratio are measured on. */
  basis: 'in' | 'out';
  cppMbPerSecOut?: number | null;
  /** wdiff redo: MB/s counted on the wlog the wdiff came from. */
  mbPerSecWlogEq?: number;
  /** Fastest measured run (least disturbed by other load on the machine). */
  secondsMin: number;
  /** ratio computed from the fastest run. */
  ratioBest: number | null;
  /** Median user+sys CPU seconds of the process (less sensitive to a busy machine than wall time). */
  cpuSeconds: number;
  /** 1-minute load average when the measurement started (2 vCPUs: above ~1 means contention). */
  load1: number;
  runs: number[];
  rssMiBRuns: number[];
  label: string;
  note?: string;
  /** --floor (floor.ts): node start + unavoidable I/O, measured right after the runs. */
  startSeconds?: number;
  ioFloorSeconds?: number;
  floorSeconds?: number;
  /** C++ seconds / floor seconds: the best ratio any implementation could reach here. */
  bestRatio?: number;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function measure(ctx: Ctx, b: Bench, runs: number, floor: boolean): Measurement {
  const load1 = Math.round(loadavg()[0]! * 100) / 100;
  b.setup?.(ctx);
  const results: RunResult[] = [];
  for (let i = 0; i <= runs; i++) {
    b.beforeRun?.(ctx);
    const r = timeBlockwal(ctx, b.args(ctx));
    if (i > 0) results.push(r); // the first is the warm-up
  }
  const bytesIn = b.bytesIn(ctx);
  const wlogBytes = b.wlogBytes?.(ctx);
  const bytesOut = b.finish(ctx);
  const seconds = median(results.map((r) => r.seconds));
  const inMB = bytesIn / 1e6 / seconds;
  const outMB = bytesOut === null ? null : bytesOut / 1e6 / seconds;
  const ours = bytesIn === 0 ? null : b.basis === 'in' ? inMB : outMB;
  const secondsMin = Math.min(...results.map((r) => r.seconds));
  const oursBest = ((b.basis === 'in' ? bytesIn : (bytesOut ?? 0)) / 1e6) / secondsMin;
  const m: Measurement = {
    bench: 'formats',
    input: b.input,
    op: b.op,
    bytesIn,
    bytesOut,
    seconds: r3(seconds),
    mbPerSecIn: bytesIn === 0 ? null : r1(inMB),
    mbPerSecOut: outMB === null ? null : r1(outMB),
    peakRssMiB: r1(Math.max(...results.map((r) => r.rssKiB)) / 1024),
    cppMbPerSec: b.cpp,
    ratio: b.cpp === null || ours === null ? null : Math.round((ours / b.cpp) * 100) / 100,
    basis: b.basis,
    secondsMin: r3(secondsMin),
    ratioBest: b.cpp === null || ours === null || bytesIn === 0 ? null : Math.round((oursBest / b.cpp) * 100) / 100,
    cpuSeconds: r3(median(results.map((r) => r.cpuSeconds))),
    load1,
    runs: results.map((r) => r3(r.seconds)),
    rssMiBRuns: results.map((r) => r1(r.rssKiB / 1024)),
    label: b.label,
  };
  if (b.cppOut !== undefined) m.cppMbPerSecOut = b.cppOut;
  if (wlogBytes !== undefined) m.mbPerSecWlogEq = r1(wlogBytes / 1e6 / seconds);
  if (b.note) m.note = b.note;
  if (floor && b.floor && b.cpp !== null && bytesOut !== null) {
    const f = measureFloor(ctx, b.floor(ctx, bytesOut), runs);
    const cppSeconds = (b.basis === 'in' ? bytesIn : bytesOut) / 1e6 / b.cpp;
    Object.assign(m, { startSeconds: f.startSeconds, ioFloorSeconds: f.ioSeconds, floorSeconds: f.floorSeconds, bestRatio: Math.round((cppSeconds / f.floorSeconds) * 100) / 100 });
  }
  return m;
}

export function markdownTable(ms: Measurement[]): string {
  const lines = [
    '| operation | input | MB in | s (median) | CPU s | blockwal MB/s | C++ MB/s | ratio | ratio, fastest run | peak RSS MiB | floor s (start + I/O) | best possible ratio |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const m of ms) {
    const ours = m.basis === 'in' ? m.mbPerSecIn : m.mbPerSecOut;
    const extra = m.mbPerSecWlogEq !== undefined ? ` (wlog-eq. ${m.mbPerSecWlogEq.toFixed(0)})` : m.op.startsWith('merge') ? ` (out ${m.mbPerSecOut?.toFixed(0)})` : '';
    const cppExtra = m.cppMbPerSecOut ? ` (out ${m.cppMbPerSecOut})` : '';
    lines.push(
      `| ${m.op}${m.basis === 'out' ? ' (output MB/s)' : ''} | ${m.input} | ${(m.bytesIn / 1e6).toFixed(0)} | ${m.seconds.toFixed(2)} | ${m.cpuSeconds.toFixed(2)} | ${ours?.toFixed(0) ?? '—'}${extra} | ${m.cppMbPerSec ?? '—'}${cppExtra} | ${m.ratio === null ? '—' : m.ratio.toFixed(2)} | ${m.ratioBest === null ? '—' : m.ratioBest.toFixed(2)} | ${m.peakRssMiB.toFixed(0)} | ${m.floorSeconds === undefined ? '—' : `${m.floorSeconds.toFixed(2)} (${m.startSeconds!.toFixed(2)} + ${m.ioFloorSeconds!.toFixed(2)})`} | ${m.bestRatio?.toFixed(2) ?? '—'} |`,
    );
  }
  return lines.join('\n');
}

function gitCommit(root: string): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' });
  return `${r.stdout.trim() || 'unknown'}${dirty.stdout.trim() ? ' (+ uncommitted changes)' : ''}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      runs: { type: 'string' },
      only: { type: 'string' },
      'size-mib': { type: 'string' },
      'no-build': { type: 'boolean' },
      keep: { type: 'boolean' },
      table: { type: 'string' },
      floor: { type: 'boolean' },
    },
  });
  const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
  const dir = values.dir ?? '/dev/shm/blockwal-bench';
  const runs = Number(values.runs ?? 3);
  const sizeMiB = Number(values['size-mib'] ?? 512);
  if (!(runs >= 1) || !(sizeMiB >= 4)) throw new Error('--runs must be >= 1 and --size-mib >= 4');
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const t0 = performance.now();
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);

  if (!values['no-build']) {
    log('building the CLI (npm run build)...');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  }

  const benches = selectBenches(allBenches(), values.only);
  const names = [...new Set(benches.flatMap(neededInputs))] as InputName[];
  const tg = performance.now();
  const inputs = ensureInputs({ dir, sizes: inputSizes(sizeMiB), names, root, log });
  const genSeconds = (performance.now() - tg) / 1000;
  const ctx: Ctx = { root, dir, work: join(dir, 'work'), inputs };
  ensureWork(ctx);

  const ms: Measurement[] = [];
  const tb = performance.now();
  const kept = ['a.sorted.wdiff', 'a.indexed.wdiff', 'b.sorted.wdiff', 'b.indexed.wdiff'];
  for (const [i, b] of benches.entries()) {
    // The wdiffs of a and b are kept for the wdiff redo benches only: free tmpfs once those ran.
    if (!values.keep && !benches.slice(i).some((x) => x.op.startsWith('wdiff-redo'))) for (const f of kept) rmf(join(ctx.work, f));
    log(`${b.op} ${b.input}...`);
    try {
      const m = measure(ctx, b, runs, values.floor === true);
      ms.push(m);
      process.stdout.write(`${JSON.stringify(m)}\n`);
      log(`  ${m.seconds.toFixed(3)} s, ${m.mbPerSecIn ?? '—'} MB/s in, ratio ${m.ratio ?? '—'}, ${m.peakRssMiB} MiB`);
    } catch (e) {
      const err = { bench: 'formats', input: b.input, op: b.op, error: (e as Error).message };
      process.stdout.write(`${JSON.stringify(err)}\n`);
      log(`  FAILED: ${(e as Error).message}`);
    }
  }
  if (!values.keep) for (const f of [...kept, 'out.wdiff', 'merged.wdiff', 'full.img', 'redo.img']) rmf(join(ctx.work, f));

  const cpu = cpus();
  const summary = {
    bench: 'formats',
    summary: true,
    date: new Date().toISOString(),
    machine: { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version, platform: `${process.platform} ${process.arch}` },
    commit: gitCommit(root),
    loadavgStart: loadStart,
    loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    dir,
    runs,
    sizeMiB,
    generateSeconds: r1(genSeconds),
    benchSeconds: r1((performance.now() - tb) / 1000),
    totalSeconds: r1((performance.now() - t0) / 1000),
    inputs: Object.fromEntries(Object.values(inputs).map((e) => [e.name, { bytes: e.bytes, wlogBytes: e.wlogBytes, pbs: e.pbs, seed: e.seed, ...(e.stats ? { packs: e.stats.packs, normal: e.stats.normalRecords, discards: e.stats.discardRecords } : {}) }])),
    measurements: ms.length,
    failures: benches.length - ms.length,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  const table = markdownTable(ms);
  log(`\n${table}\n`);
  if (values.table) writeFileSync(values.table, `${table}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
