/**
 * The measured operations of the format benchmark, the C++ walb-tools figures they are compared
 * with (/work/shared/vectors/PERF.md), and the helper that times one `blockwal` process.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, ftruncateSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { WLOG_DEVICE_BYTES, type InputEntry } from './generate.js';
import type { FloorPlan } from './floor.js';

export interface Ctx {
  root: string;
  dir: string;
  /** DIR/work: outputs, images, kept wdiffs. */
  work: string;
  inputs: Record<string, InputEntry>;
}

export const cliPath = (ctx: Ctx): string => join(ctx.root, 'packages/cli/bin/blockwal.js');

// ---------------------------------------------------------------------------------------------
// Running one process.

export interface RunResult {
  seconds: number;
  /** GNU time %e (0.01 s resolution), for reference. */
  gnuSeconds: number;
  rssKiB: number;
  /** user + system CPU seconds of the child (GNU time %U + %S). */
  cpuSeconds: number;
}

/**
 * Runs `node [nodeArgs] blockwal.js args` under `/usr/bin/time -f '%e %M %U %S'`; wall time is
 * taken with hrtime around the child (GNU time's %e has 10 ms resolution), peak RSS from %M,
 * CPU time from %U + %S.
 */
export function timeBlockwal(ctx: Ctx, args: string[], nodeArgs: string[] = []): RunResult {
  const timeFile = join(ctx.work, '.time');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', '-o', timeFile, process.execPath, ...nodeArgs, cliPath(ctx), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`blockwal ${args.join(' ')} failed (status ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${r.stderr}`);
  const [e, m, u, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-4);
  return { seconds, gnuSeconds: Number(e), rssKiB: Number(m), cpuSeconds: Number(u) + Number(sys) };
}

export function rmf(file: string): void {
  rmSync(file, { force: true });
}

/** A fresh sparse image of `bytes` bytes. */
export function sparseImage(file: string, bytes: number): void {
  rmf(file);
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/** Bytes actually allocated by a (sparse) file. */
export function allocatedBytes(file: string): number {
  return statSync(file).blocks * 512;
}

// ---------------------------------------------------------------------------------------------
// The operations.

export interface Bench {
  /** Operation id (used by --only). */
  op: string;
  /** Input name: a..d, or m1..m4 for merges and virt-full-cat. */
  input: string;
  /** What the line of the table says. */
  label: string;
  /** Arguments of `blockwal` for one run. */
  args(ctx: Ctx): string[];
  /** Called once before the warm-up (inputs the run needs). */
  setup?(ctx: Ctx): void;
  /** Called before every run (fresh outputs). */
  beforeRun?(ctx: Ctx): void;
  /** Called after the last run; returns bytes of output (or null) and cleans up. */
  finish(ctx: Ctx): number | null;
  bytesIn(ctx: Ctx): number;
  /** For wdiff redo: bytes of the wlog the wdiff was made from. */
  wlogBytes?(ctx: Ctx): number;
  /** The PERF.md figure, MB/s, and on which side it is measured. */
  cpp: number | null;
  cppOut?: number | null;
  basis: 'in' | 'out';
  note?: string;
  /** What the operation cannot avoid doing (floor.ts), given the bytes it wrote. */
  floor?(ctx: Ctx, bytesOut: number): FloorPlan;
}

const CPP = {
  toWdiffSorted: { a: 740, b: 315, c: 957, d: 513 },
  toWdiffIndexed: { a: 1015, b: 374, c: 1598, d: 947 },
  wdiffRedoSorted: { a: 2667, b: 1472 },
  wdiffRedoIndexed: { a: 1171, b: 666 },
  wlogRedo: { a: 1793, b: 872, c: 2165, d: 1790 },
  merge: { none: [1175, 786], snappy: [1012, 677], zstd: [820, 549] },
  virtFullCat: 559,
} as const;

type W = 'a' | 'b' | 'c' | 'd';
const wlogFile = (ctx: Ctx, w: string): string => ctx.inputs[w]!.file;
const outFile = (ctx: Ctx): string => join(ctx.work, 'out.wdiff');
/** Where the wdiffs of a and b are kept for the redo benchmarks. */
export const keptWdiff = (ctx: Ctx, w: string, layout: 'sorted' | 'indexed'): string => join(ctx.work, `${w}.${layout}.wdiff`);
const mergeInputs = (ctx: Ctx): string[] => ['m1', 'm2', 'm3', 'm4'].map((m) => ctx.inputs[m]!.file);
const sumBytes = (ctx: Ctx, names: string[]): number => names.reduce((s, n) => s + ctx.inputs[n]!.bytes, 0);

/** Makes sure the kept wdiff exists (converted untimed when the to-wdiff bench did not run). */
export function ensureKeptWdiff(ctx: Ctx, w: string, layout: 'sorted' | 'indexed'): string {
  const f = keptWdiff(ctx, w, layout);
  if (!existsSync(f)) {
    const tmp = `${f}.tmp`;
    timeBlockwal(ctx, ['wlog', 'to-wdiff', wlogFile(ctx, w), tmp, ...(layout === 'indexed' ? ['--indexed'] : [])]);
    renameSync(tmp, f);
  }
  return f;
}

export function allBenches(): Bench[] {
  const list: Bench[] = [];
  // The fixed cost of every measurement below: starting node and loading the CLI and addons.
  list.push({
    op: 'startup',
    input: '-',
    label: 'blockwal version (node start + module load)',
    args: () => ['version'],
    finish: () => null,
    bytesIn: () => 0,
    cpp: null,
    basis: 'in',
    note: 'fixed per-process cost included in every figure',
  });
  const wlogs: W[] = ['a', 'b', 'c', 'd'];
  for (const layout of ['sorted', 'indexed'] as const) {
    for (const w of wlogs) {
      list.push({
        op: `to-wdiff-${layout}`,
        input: w,
        label: `wlog → ${layout} wdiff (snappy)`,
        args: (ctx) => ['wlog', 'to-wdiff', wlogFile(ctx, w), outFile(ctx), ...(layout === 'indexed' ? ['--indexed'] : [])],
        beforeRun: (ctx) => rmf(outFile(ctx)),
        finish: (ctx) => {
          const n = statSync(outFile(ctx)).size;
          if (w === 'a' || w === 'b') renameSync(outFile(ctx), keptWdiff(ctx, w, layout));
          else rmf(outFile(ctx));
          return n;
        },
        bytesIn: (ctx) => ctx.inputs[w]!.bytes,
        cpp: (layout === 'sorted' ? CPP.toWdiffSorted : CPP.toWdiffIndexed)[w],
        basis: 'in',
        // The sorted layout reads its records back from the wlog (about the output's size).
        floor: (ctx, out) => ({ read: [wlogFile(ctx, w)], write: out, ...(layout === 'sorted' ? { readBack: { file: wlogFile(ctx, w), bytes: out } } : {}) }),
      });
    }
  }
  for (const layout of ['sorted', 'indexed'] as const) {
    for (const w of ['a', 'b'] as const) {
      const img = (ctx: Ctx) => join(ctx.work, 'redo.img');
      list.push({
        op: `wdiff-redo-${layout}`,
        input: w,
        label: `wdiff redo, ${layout} (discards ignored, as C++ default)`,
        setup: (ctx) => {
          ensureKeptWdiff(ctx, w, layout);
          sparseImage(img(ctx), WLOG_DEVICE_BYTES);
        },
        args: (ctx) => ['wdiff', 'redo', keptWdiff(ctx, w, layout), img(ctx), '--discard', 'ignore'],
        finish: (ctx) => {
          const n = allocatedBytes(img(ctx));
          rmf(img(ctx));
          return n;
        },
        bytesIn: (ctx) => statSync(ensureKeptWdiff(ctx, w, layout)).size,
        wlogBytes: (ctx) => ctx.inputs[w]!.bytes,
        cpp: (layout === 'sorted' ? CPP.wdiffRedoSorted : CPP.wdiffRedoIndexed)[w],
        basis: 'in',
        floor: (ctx, applied) => ({ read: [keptWdiff(ctx, w, layout)], over: applied }),
        note: 'MB/s of the wdiff file; the image is an 8 GiB sparse file on tmpfs, reused by the warm-up and the runs',
      });
    }
  }
  const redoWlog = (w: W, discard: 'ignore' | 'zero'): Bench => {
    const img = (ctx: Ctx) => join(ctx.work, 'redo.img');
    return {
      op: discard === 'ignore' ? 'wlog-redo' : 'wlog-redo-zero',
      input: w,
      label: discard === 'ignore' ? 'wlog redo (discards ignored, as C++ default)' : 'wlog redo, discards zero-filled (blockwal default)',
      setup: (ctx) => sparseImage(img(ctx), WLOG_DEVICE_BYTES),
      args: (ctx) => ['wlog', 'redo', wlogFile(ctx, w), img(ctx), '--discard', discard],
      finish: (ctx) => {
        const n = allocatedBytes(img(ctx));
        rmf(img(ctx));
        return n;
      },
      bytesIn: (ctx) => ctx.inputs[w]!.bytes,
      cpp: discard === 'ignore' ? CPP.wlogRedo[w] : null,
      basis: 'in',
      floor: (ctx, applied) => ({ read: [wlogFile(ctx, w)], over: applied }),
      note: 'buffered writes + one fdatasync into an 8 GiB sparse file on tmpfs (C++: O_DIRECT + one fdatasync)',
    };
  };
  for (const w of wlogs) list.push(redoWlog(w, 'ignore'));
  list.push(redoWlog('a', 'zero'));

  for (const c of ['none', 'snappy', 'zstd'] as const) {
    const out = (ctx: Ctx) => join(ctx.work, 'merged.wdiff');
    list.push({
      op: `merge-${c}`,
      input: 'm1..m4',
      label: `wdiff merge of 4, output ${c}`,
      args: (ctx) => ['wdiff', 'merge', '-o', out(ctx), ...mergeInputs(ctx), '--compress', c],
      beforeRun: (ctx) => rmf(out(ctx)),
      finish: (ctx) => {
        const n = statSync(out(ctx)).size;
        rmf(out(ctx));
        return n;
      },
      bytesIn: (ctx) => sumBytes(ctx, ['m1', 'm2', 'm3', 'm4']),
      cpp: CPP.merge[c][0],
      cppOut: CPP.merge[c][1],
      basis: 'in',
      floor: (ctx, n) => ({ read: mergeInputs(ctx), write: n }),
    });
  }
  {
    const out = (ctx: Ctx) => join(ctx.work, 'full.img');
    list.push({
      op: 'virt-full-cat',
      input: 'base+m1..m4',
      label: 'virt-full-cat (base on tmpfs) + 4 wdiffs',
      args: (ctx) => ['virt-full-cat', '--base', ctx.inputs['base']!.file, '-o', out(ctx), ...mergeInputs(ctx)],
      beforeRun: (ctx) => rmf(out(ctx)),
      finish: (ctx) => {
        const n = statSync(out(ctx)).size;
        rmf(out(ctx));
        return n;
      },
      bytesIn: (ctx) => sumBytes(ctx, ['base', 'm1', 'm2', 'm3', 'm4']),
      cpp: CPP.virtFullCat,
      basis: 'out',
      // The base is copied in 4 MiB reads and writes, the diffs read once.
      floor: (ctx, n) => ({ read: [ctx.inputs['base']!.file, ...mergeInputs(ctx)], write: n }),
      note: 'MB/s of the output image',
    });
  }
  return list;
}

/** The inputs a bench needs. */
export function neededInputs(b: Bench): string[] {
  if (b.op === 'startup') return [];
  if (b.op.startsWith('merge')) return ['m1', 'm2', 'm3', 'm4'];
  if (b.op === 'virt-full-cat') return ['m1', 'm2', 'm3', 'm4', 'base'];
  return [b.input];
}

/** --only: a token selects a bench when it equals its op, its input, or op:input. */
export function selectBenches(list: Bench[], only: string | undefined): Bench[] {
  if (!only) return list;
  const tokens = only.split(',').map((s) => s.trim()).filter(Boolean);
  const sel = list.filter((b) => tokens.some((t) => t === b.op || t === b.input || t === `${b.op}:${b.input}` || (t === 'merge' && b.op.startsWith('merge')) || (t === 'm' && b.input.includes('m1'))));
  if (sel.length === 0) throw new Error(`--only ${only} selects nothing; ops: ${[...new Set(list.map((b) => b.op))].join(', ')}; inputs: a, b, c, d, m1..m4`);
  return sel;
}

export function ensureWork(ctx: Ctx): void {
  mkdirSync(ctx.work, { recursive: true });
}
