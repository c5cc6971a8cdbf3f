/**
 * The floor under each format operation on this machine: the time no implementation can beat
 * because the kernel copies (and the node start) cost it anyway, next to the C++ figure and
 * blockwal's time. It answers "is ratio >= 1.0 reachable at all for this operation here?".
 *
 *   node --conditions=blockwal-source --import tsx bench/formats/floor.ts --results R.json [--dir DIR] [--runs N]
 *
 * R.json is the stdout of run.ts (its bytesIn, bytesOut, seconds and C++ figure per operation).
 * Measured here, median of N runs (default 5), each I/O pass in a fresh child process:
 *   start      `node -e 0`: the bare runtime start every blockwal process pays (C++ pays ~1 ms)
 *   read(f)    read(2) of the whole input in 128 KiB chunks with the WalB checksum of every
 *              16 KiB (the cheapest way found to read and look at every byte in Node; C reads
 *              at the same speed here)
 *   write(n)   n bytes written to a NEW file in 256 KiB writes (what a conversion or merge does)
 *   over(n)    n bytes written over existing pages of an image at random 4 KiB-aligned offsets,
 *              256 KiB at a time (what a redo does; the image was filled by the warm-up)
 * Floors: to-wdiff = start + read(in) + write(out) (+ read(out) for the sorted layout, which
 * reads its records back); redo = start + read(in) + over(bytes applied); merge = start +
 * read(inputs) + write(out).
 * bestRatio = C++ seconds / floor seconds: above 1.0 the goal is reachable in principle;
 * below 1.0 even an implementation with zero cost of its own loses to the C++ figure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Result {
  op: string;
  input: string;
  bytesIn: number;
  bytesOut: number | null;
  seconds: number;
  cppMbPerSec: number | null;
  basis: 'in' | 'out';
  summary?: boolean;
}

const { values } = parseArgs({ options: { results: { type: 'string' }, dir: { type: 'string', default: '/dev/shm/blockwal-bench' }, runs: { type: 'string', default: '5' } } });
if (!values.results) throw new Error('--results R.json (the output of run.ts) is required');
const dir = values.dir!;
const runs = Number(values.runs);
const results = readFileSync(values.results, 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('{'))
  .map((l) => JSON.parse(l) as Result)
  .filter((r) => !r.summary);

/** Runs one I/O pass in a fresh node process; returns its own timing (seconds). */
function pass(mode: 'read' | 'write' | 'over', file: string, bytes = 0): number {
  const script = `
import { openSync, readSync, writeSync, closeSync, rmSync } from 'node:fs';
import { walbChecksum } from '@blockwal/native-io';
const [mode, file, bytes] = [${JSON.stringify(mode)}, ${JSON.stringify(file)}, ${bytes}];
const t = process.hrtime.bigint();
if (mode === 'read') {
  const fd = openSync(file, 'r'); const buf = Buffer.allocUnsafeSlow(131072); let pos = 0, n, s = 0;
  while ((n = readSync(fd, buf, 0, 131072, pos)) > 0) { pos += n; for (let o = 0; o < n; o += 16384) s ^= walbChecksum(buf.subarray(o, Math.min(n, o + 16384)), 0); }
  closeSync(fd);
} else {
  const fd = openSync(file, mode === 'write' ? 'w' : 'r+'); const buf = Buffer.alloc(262144, 7); let x = 12345;
  for (let done = 0; done < bytes; done += buf.length) {
    const len = Math.min(buf.length, bytes - done);
    if (mode === 'write') writeSync(fd, buf, 0, len);
    else { x = (x * 1103515245 + 12345) % 2147483648; writeSync(fd, buf, 0, len, (x % 2048) * 4 * 1024 * 1024); }
  }
  closeSync(fd);
}
process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e9));
if (mode === 'write') rmSync(file);
`;
  const r = spawnSync(process.execPath, ['--conditions=blockwal-source', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`floor pass ${mode} ${file} failed: ${r.stderr}`);
  return Number(r.stdout);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timed(f: () => number): number {
  return median(Array.from({ length: runs }, f));
}

function startSeconds(): number {
  return timed(() => {
    const t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    return Number(process.hrtime.bigint() - t) / 1e9;
  });
}

const file = (name: string): string => join(dir, name);
const readCache = new Map<string, number>();
function readSeconds(names: string[]): number {
  let s = 0;
  for (const n of names) {
    if (!readCache.has(n)) readCache.set(n, timed(() => pass('read', file(n))));
    s += readCache.get(n)!;
  }
  return s;
}
const writeSeconds = (bytes: number): number => timed(() => pass('write', join(dir, 'work', 'floor.out'), bytes));
const image = join(dir, 'work', 'floor.img');
function overSeconds(bytes: number): number {
  if (!existsSync(image)) spawnSync('truncate', ['-s', '8G', image]);
  pass('over', image, bytes); // warm-up: the pages exist afterwards, as in the redo runs
  return timed(() => pass('over', image, bytes));
}

const start = startSeconds();
const kept = (w: string, layout: string): string => `work/${w}.${layout}.wdiff`;
const rows: Record<string, unknown>[] = [];
for (const r of results) {
  if (r.op === 'startup' || r.cppMbPerSec === null) continue;
  let io: number;
  const wlog = `${r.input}.wlog`;
  const out = r.bytesOut ?? 0;
  if (r.op === 'to-wdiff-sorted') io = readSeconds([wlog]) * (1 + out / r.bytesIn) + writeSeconds(out);
  else if (r.op === 'to-wdiff-indexed') io = readSeconds([wlog]) + writeSeconds(out);
  else if (r.op === 'wdiff-redo-sorted' || r.op === 'wdiff-redo-indexed') {
    const w = kept(r.input, r.op.endsWith('sorted') ? 'sorted' : 'indexed');
    if (!existsSync(file(w))) continue;
    io = readSeconds([w]) + overSeconds(r.bytesIn);
  } else if (r.op === 'wlog-redo') io = readSeconds([wlog]) + overSeconds(r.bytesIn);
  else if (r.op.startsWith('merge-')) io = readSeconds(['m1.wdiff', 'm2.wdiff', 'm3.wdiff', 'm4.wdiff']) + writeSeconds(out);
  else continue; // virt-full-cat: blockwal copies the base in the kernel (copy_file_range), below any read + write floor
  const basisBytes = r.basis === 'out' ? out : r.bytesIn;
  const cppSeconds = basisBytes / 1e6 / r.cppMbPerSec;
  const floor = start + io;
  const row = {
    bench: 'formats-floor',
    op: r.op,
    input: r.input,
    cppSeconds: +cppSeconds.toFixed(3),
    blockwalSeconds: r.seconds,
    startSeconds: +start.toFixed(3),
    ioFloorSeconds: +io.toFixed(3),
    floorSeconds: +floor.toFixed(3),
    bestRatio: +(cppSeconds / floor).toFixed(2),
    ratio: +(cppSeconds / r.seconds).toFixed(2),
    overFloorSeconds: +(r.seconds - floor).toFixed(3),
  };
  rows.push(row);
  process.stdout.write(`${JSON.stringify(row)}\n`);
}
const lines = [
  '| operation | input | C++ s | blockwal s | node start s | I/O floor s | floor s | best possible ratio | ratio | blockwal above floor s |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r['op']} | ${r['input']} | ${r['cppSeconds']} | ${r['blockwalSeconds']} | ${r['startSeconds']} | ${r['ioFloorSeconds']} | ${r['floorSeconds']} | **${r['bestRatio']}** | ${r['ratio']} | ${r['overFloorSeconds']} |`),
];
process.stderr.write(`${lines.join('\n')}\n`);
