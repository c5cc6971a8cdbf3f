/**
 * WAL device benchmark: fio (nbd engine) against `blockwal device serve` and against `nbdkit file`
 * on the same disk, in the same run, interleaved (A B A B ...), median of the rounds.
 *
 *   node --conditions=blockwal-source --import tsx bench/device/run.ts [--dir DIR] [--rounds N] [--seconds S]
 *
 * Workloads: 4 KiB random writes at queue depth 16, and 1 MiB sequential writes at queue depth 16
 * (plus queue depth 1 of each). One JSON record per line: { bench, workload, target, iops, mbPerSec,
 * p50us, p99us } per round, then per workload the medians and the ratios blockwal/nbdkit.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({ options: { dir: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' } } });
const dir = args.dir ?? '/work/blockwal-bench-device';
const rounds = Number(args.rounds ?? 3);
const seconds = Number(args.seconds ?? 5);
const SIZE = '2G';

interface Workload {
  name: string;
  rw: string;
  bs: string;
  iodepth: number;
}
const WORKLOADS: Workload[] = [
  { name: '4k-randwrite-qd16', rw: 'randwrite', bs: '4k', iodepth: 16 },
  { name: '1m-seqwrite-qd16', rw: 'write', bs: '1M', iodepth: 16 },
  { name: '4k-randwrite-qd1', rw: 'randwrite', bs: '4k', iodepth: 1 },
  { name: '1m-seqwrite-qd1', rw: 'write', bs: '1M', iodepth: 1 },
];

function fio(uri: string, w: Workload): { iops: number; mbPerSec: number; p50us: number; p99us: number } {
  const out = execFileSync('fio', [
    '--name=b', '--ioengine=nbd', `--uri=${uri}`, `--rw=${w.rw}`, `--bs=${w.bs}`, `--iodepth=${w.iodepth}`,
    `--runtime=${seconds}`, '--time_based', `--size=${SIZE}`, '--output-format=json',
  ], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const j = JSON.parse(out.slice(out.indexOf('{'))).jobs[0].write;
  return { iops: j.iops, mbPerSec: j.bw_bytes / 1e6, p50us: j.clat_ns.percentile['50.000000'] / 1000, p99us: j.clat_ns.percentile['99.000000'] / 1000 };
}

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
}

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bin = path.join(root, 'packages/cli/bin/blockwal.js');
  execFileSync(process.execPath, [bin, 'device', 'create', '--data', `${dir}/data.img`, '--log', `${dir}/log.img`, '--size', SIZE, '--log-size', '1G', '--name', 'vol'], { stdio: 'ignore' });
  execFileSync('truncate', ['-s', SIZE, `${dir}/nbdkit.img`]);
  const device: ChildProcess = spawn(process.execPath, [bin, 'device', 'serve', '--data', `${dir}/data.img`, '--log', `${dir}/log.img`, '--socket', `${dir}/bw.sock`], { stdio: 'ignore', env: { ...process.env, UV_THREADPOOL_SIZE: '16' } });
  const nbdkit: ChildProcess = spawn('nbdkit', ['-f', '-U', `${dir}/nk.sock`, 'file', `${dir}/nbdkit.img`], { stdio: 'ignore' });
  await waitFor(`${dir}/bw.sock`);
  await waitFor(`${dir}/nk.sock`);
  await new Promise((r) => setTimeout(r, 500));
  const targets = { blockwal: `nbd+unix:///vol?socket=${dir}/bw.sock`, nbdkit: `nbd+unix:///?socket=${dir}/nk.sock` };
  const results: Record<string, Record<string, ReturnType<typeof fio>[]>> = {};
  try {
    for (const w of WORKLOADS) {
      results[w.name] = { blockwal: [], nbdkit: [] };
      fio(targets.blockwal, { ...w }); // warm-up (JIT, page cache)
      for (let r = 0; r < rounds; r++) {
        for (const t of ['blockwal', 'nbdkit'] as const) {
          const m = fio(targets[t], w);
          results[w.name]![t]!.push(m);
          console.log(JSON.stringify({ bench: 'device', workload: w.name, target: t, round: r, ...m }));
        }
      }
    }
  } finally {
    device.kill('SIGTERM');
    nbdkit.kill('SIGTERM');
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = WORKLOADS.map((w) => {
    const b = results[w.name]!['blockwal']!;
    const k = results[w.name]!['nbdkit']!;
    const s = (xs: ReturnType<typeof fio>[]) => ({ iops: med(xs.map((x) => x.iops)), mbPerSec: med(xs.map((x) => x.mbPerSec)), p50us: med(xs.map((x) => x.p50us)), p99us: med(xs.map((x) => x.p99us)) });
    const bs = s(b);
    const ks = s(k);
    return { workload: w.name, blockwal: bs, nbdkit: ks, throughputRatio: bs.mbPerSec / ks.mbPerSec, p99Ratio: bs.p99us / ks.p99us };
  });
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  console.log(JSON.stringify({ bench: 'device', summary, date: new Date().toISOString(), commit: git, machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version }, dir, rounds, seconds }));
  rmSync(dir, { recursive: true, force: true });
}

await main();
