/**
 * Cost of one fs.readSync / fs.writeSync call from Node on a tmpfs file, by size and access
 * pattern, to see how much of the per-record work of the format operations is the system call
 * itself (sorted wlog→wdiff re-reads every record with one pread; wlog redo / wdiff redo write
 * every record with one pwrite).
 *
 *   node --import tsx bench/micro/syscalls.ts [--file /dev/shm/blockwal-micro.bin] [--mib 512]
 *
 * Prints one JSON line per case: µs per call and GB/s.
 */
import { closeSync, ftruncateSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { file: { type: 'string' }, mib: { type: 'string' } } });
const file = values.file ?? '/dev/shm/blockwal-micro.bin';
const bytes = Number(values.mib ?? 512) * 1024 * 1024;

// A file with allocated pages (written once), so that reads and overwrites touch real pages.
const fd = openSync(file, 'w+');
const big = Buffer.alloc(4 * 1024 * 1024, 0x5a);
for (let pos = 0; pos < bytes; pos += big.length) writeSync(fd, big, 0, big.length, pos);

let seed = 12345;
const rand = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return Math.floor((seed / 2 ** 32) * n);
};

function run(kind: 'read' | 'write', size: number, pattern: 'sequential' | 'random', calls: number): void {
  const buf = Buffer.alloc(size, 1);
  const slots = Math.floor(bytes / size);
  const offsets = new Float64Array(calls);
  for (let i = 0; i < calls; i++) offsets[i] = (pattern === 'sequential' ? i % slots : rand(slots)) * size;
  const t0 = process.hrtime.bigint();
  if (kind === 'read') for (let i = 0; i < calls; i++) readSync(fd, buf, 0, size, offsets[i]!);
  else for (let i = 0; i < calls; i++) writeSync(fd, buf, 0, size, offsets[i]!);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${JSON.stringify({ kind, size, pattern, calls, usPerCall: +((s / calls) * 1e6).toFixed(2), gbPerSec: +((calls * size) / s / 1e9).toFixed(2) })}\n`);
}

for (const kind of ['read', 'write'] as const) {
  for (const size of [4096, 32768, 128 << 10, 256 << 10, 1 << 20, 4 << 20]) {
    for (const pattern of ['sequential', 'random'] as const) {
      const calls = Math.max(64, Math.min(100_000, Math.floor((256 * 1024 * 1024) / size)));
      run(kind, size, pattern, calls);
    }
  }
}
closeSync(fd);
const fd2 = openSync(file, 'r+');
ftruncateSync(fd2, 0);
closeSync(fd2);
rmSync(file, { force: true });
