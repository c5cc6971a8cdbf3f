/**
 * The floor under a format operation on this machine (run.ts --floor): the time no
 * implementation can beat, because the node start and the kernel copies cost it anyway. It is
 * measured right after the operation's own runs, so both see the same load, and it answers
 * "is ratio >= 1.0 reachable at all here?": bestRatio = C++ seconds / floor seconds.
 *
 * Each pass is a fresh node process timing its own I/O (median of the runs):
 *   start     `node -e 0`: the bare runtime start every blockwal process pays (C++ pays ~1 ms)
 *   read      read(2) of whole files in 128 KiB chunks (the fastest chunk size here) into a
 *             page-aligned buffer (core/src/io/buffers.ts), with the WalB checksum of every
 *             16 KiB: reading and looking at every byte once
 *   write     n bytes written to a NEW file, 256 KiB at a time (a conversion's or merge's output)
 *   over      n bytes written over existing pages of an 8 GiB image at random 4 MiB-aligned
 *             offsets, 256 KiB at a time (a redo; the warm-up pass fills the pages first). Real
 *             redos write records of 4-64 KiB, which costs more: the floor is a lower bound.
 * Compression, sorting and merging cost nothing in the floor: it is a lower bound, so a best
 * ratio below 1.0 means even a free implementation loses to the C++ figure on this machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Ctx } from './ops.js';

export interface FloorPlan {
  /** Files read whole. */
  read: string[];
  /** Bytes read a second time (the sorted conversion reads its records back). */
  readBack?: { file: string; bytes: number };
  /** Bytes written to a new file. */
  write?: number;
  /** Bytes written over an existing image. */
  over?: number;
}

export interface Floor {
  startSeconds: number;
  ioSeconds: number;
  floorSeconds: number;
}

const PASS = `
import { openSync, readSync, writeSync, closeSync, rmSync } from 'node:fs';
import { allocAligned, walbChecksum } from '@blockwal/native-io';
const [mode, file, bytes] = JSON.parse(process.argv[1]);
const t = process.hrtime.bigint();
if (mode === 'read') {
  const fd = openSync(file, 'r'); const buf = allocAligned(131072); let pos = 0, n, s = 0;
  while (pos < bytes && (n = readSync(fd, buf, 0, Math.min(131072, bytes - pos), pos)) > 0) {
    pos += n;
    for (let o = 0; o < n; o += 16384) s ^= walbChecksum(buf.subarray(o, Math.min(n, o + 16384)), 0);
  }
  closeSync(fd);
} else {
  const fd = openSync(file, mode === 'write' ? 'w' : 'r+'); const buf = Buffer.alloc(262144, 7); let x = 12345;
  for (let done = 0; done < bytes; done += buf.length) {
    const len = Math.min(buf.length, bytes - done);
    if (mode === 'write') writeSync(fd, buf, 0, len);
    else { x = (x * 1103515245 + 12345) % 2147483648; writeSync(fd, buf, 0, len, (x % 2048) * 4194304); }
  }
  closeSync(fd);
}
process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e9));
if (mode === 'write') rmSync(file);
`;

/** One I/O pass in a fresh node process; returns the seconds it measured itself. */
function pass(ctx: Ctx, mode: 'read' | 'write' | 'over', file: string, bytes: number): number {
  const r = spawnSync(process.execPath, ['--conditions=blockwal-source', '--import', 'tsx', '--input-type=module', '-e', PASS, JSON.stringify([mode, file, bytes])], {
    cwd: ctx.root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`floor pass ${mode} ${file} failed: ${r.stderr}`);
  return Number(r.stdout);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const timed = (runs: number, f: () => number): number => median(Array.from({ length: runs }, f));

function startSeconds(): number {
  const t = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

export function measureFloor(ctx: Ctx, plan: FloorPlan, runs: number): Floor {
  const start = timed(runs, startSeconds);
  let io = 0;
  for (const f of plan.read) io += timed(runs, () => pass(ctx, 'read', f, Number.MAX_SAFE_INTEGER));
  if (plan.readBack) io += timed(runs, () => pass(ctx, 'read', plan.readBack!.file, plan.readBack!.bytes));
  if (plan.write) io += timed(runs, () => pass(ctx, 'write', join(ctx.work, 'floor.out'), plan.write!));
  if (plan.over) {
    const image = join(ctx.work, 'floor.img');
    if (!existsSync(image)) spawnSync('truncate', ['-s', '8G', image]);
    pass(ctx, 'over', image, plan.over); // warm-up: the pages exist afterwards, as in the redo runs
    io += timed(runs, () => pass(ctx, 'over', image, plan.over!));
    rmSync(image, { force: true });
  }
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return { startSeconds: r3(start), ioSeconds: r3(io), floorSeconds: r3(start + io) };
}
