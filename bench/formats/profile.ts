/**
 * CPU profile of format benchmark operations: runs each selected operation once (after the same
 * setup as run.ts) as `node --cpu-prof blockwal.js ...` and prints where the time goes.
 *
 *   node --conditions=blockwal-source --import tsx bench/formats/profile.ts \
 *     --only to-wdiff-sorted:b,merge-snappy [--dir DIR] [--size-mib N] [--top 15] [--out DIR]
 *
 * Inputs must exist in DIR (run.ts makes them; they are generated here too when missing).
 * For each operation: the top functions by self time (name, file:line, % of samples), the top
 * files by self time, and the top functions by inclusive time. The .cpuprofile files are kept
 * in --out (default DIR/profiles) for Chrome DevTools / speedscope.
 */
import { readdirSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureInputs, inputSizes, type InputName } from './generate.js';
import { allBenches, ensureWork, neededInputs, selectBenches, timeBlockwal, type Ctx } from './ops.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotSpot {
  key: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  selfByFunction: HotSpot[];
  selfByFile: HotSpot[];
  inclusiveByFunction: HotSpot[];
}

function shortUrl(url: string, root: string): string {
  if (!url) return '(native)';
  const p = url.startsWith('file://') ? new URL(url).pathname : url;
  return p.startsWith(root) ? relative(root, p) : p;
}

export function summarize(profile: CpuProfile, root: string, top: number): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const fnKey = (n: ProfileNode): string => {
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    if (!f.url) return name;
    return `${name} ${shortUrl(f.url, root)}:${f.lineNumber + 1}`;
  };
  const fileKey = (n: ProfileNode): string => (n.callFrame.url ? shortUrl(n.callFrame.url, root) : n.callFrame.functionName || '(native)');
  const self = new Map<string, number>();
  const files = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000; // ms; delta i+1 is the duration of sample i
    const node = byId.get(profile.samples[i]!)!;
    total += dt;
    const k = fnKey(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const fk = fileKey(node);
    files.set(fk, (files.get(fk) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const key = fnKey(byId.get(id)!);
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + dt);
    }
  }
  const list = (m: Map<string, number>, skip: (k: string) => boolean = () => false): HotSpot[] =>
    [...m]
      .filter(([k]) => !skip(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, ms]) => ({ key, ms: Math.round(ms), pct: Math.round((ms / total) * 1000) / 10 }));
  return {
    totalMs: Math.round(total),
    selfByFunction: list(self),
    selfByFile: list(files),
    // Skip the trivial roots and the CLI/module plumbing in the inclusive list.
    inclusiveByFunction: list(incl, (k) => k.startsWith('(root)') || k.startsWith('(anonymous)') || k.startsWith('main ') || k.startsWith('run ')),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      only: { type: 'string' },
      'size-mib': { type: 'string' },
      top: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      interval: { type: 'string' },
    },
  });
  const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
  const dir = values.dir ?? '/dev/shm/blockwal-bench';
  const top = Number(values.top ?? 15);
  const outDir = values.out ?? join(dir, 'profiles');
  const benches = selectBenches(allBenches(), values.only ?? 'to-wdiff-sorted:b,to-wdiff-indexed:b,merge-snappy,wdiff-redo-sorted:b');
  const names = [...new Set(benches.flatMap(neededInputs))] as InputName[];
  const inputs = ensureInputs({ dir, sizes: inputSizes(Number(values['size-mib'] ?? 512)), names, root });
  const ctx: Ctx = { root, dir, work: join(dir, 'work'), inputs };
  ensureWork(ctx);
  mkdirSync(outDir, { recursive: true });
  for (const b of benches) {
    const name = `${b.op}-${b.input.replace(/[^a-z0-9]+/gi, '_')}`;
    const pdir = join(outDir, name);
    rmSync(pdir, { recursive: true, force: true });
    b.setup?.(ctx);
    b.beforeRun?.(ctx);
    timeBlockwal(ctx, b.args(ctx)); // warm-up (and the redo image's pages)
    b.beforeRun?.(ctx);
    const r = timeBlockwal(ctx, b.args(ctx), ['--cpu-prof', `--cpu-prof-dir=${pdir}`, `--cpu-prof-interval=${values.interval ?? '500'}`]);
    b.finish(ctx);
    const file = readdirSync(pdir).find((f) => f.endsWith('.cpuprofile'))!;
    const s = summarize(JSON.parse(readFileSync(join(pdir, file), 'utf8')) as CpuProfile, root, top);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ op: b.op, input: b.input, seconds: r.seconds, profile: join(pdir, file), ...s })}\n`);
      continue;
    }
    const fmt = (h: HotSpot) => `  ${h.pct.toFixed(1).padStart(5)}%  ${String(h.ms).padStart(6)} ms  ${h.key}`;
    const lines = [
      `== ${b.op} ${b.input}: ${r.seconds.toFixed(2)} s wall (profiled), ${s.totalMs} ms sampled; ${join(pdir, file)}`,
      'self time by function:',
      ...s.selfByFunction.map(fmt),
      'self time by file:',
      ...s.selfByFile.slice(0, 8).map(fmt),
      'inclusive time by function:',
      ...s.inclusiveByFunction.map(fmt),
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
