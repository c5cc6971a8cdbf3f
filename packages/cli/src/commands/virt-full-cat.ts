/** blockwal virt-full-cat --base IMAGE -o OUT WDIFF...: base image + wdiffs (oldest first) → full image. */
import { SequentialWriter, UsageError, openWdiff, withInput, withOutput, writeVirtualFull, type WdiffSource } from '@blockwal/core';
import { parse, positionals, str } from '../args.js';
import { progress } from '../progress.js';

export const usage = 'blockwal virt-full-cat --base IMAGE -o OUT WDIFF...   (wdiffs oldest first)';

export function run(argv: string[]): number {
  const p = parse(argv, { base: { type: 'string' }, output: { type: 'string', short: 'o' } }, usage);
  const diffs = positionals(p, ['WDIFF'], usage, { rest: true, min: 0 });
  const base = str(p, 'base');
  const output = str(p, 'output');
  if (base === undefined) throw new UsageError(`missing --base IMAGE\nusage: ${usage}`);
  if (output === undefined) throw new UsageError(`missing -o OUT\nusage: ${usage}`);
  withInput(base, (b) => {
    if (!b.seekable || b.size === null) throw new UsageError(`--base ${base} must be a regular file or a block device`);
    const sources: WdiffSource[] = [];
    try {
      for (const f of diffs) sources.push(openWdiff(f));
      const bar = progress('virt-full-cat', b.size);
      withOutput(output, (o) => {
        const w = new SequentialWriter(o.fd, { file: o.name, startOffset: o.isStream ? null : 0 });
        writeVirtualFull(b.fd, b.size!, sources, w, { baseName: b.name, diffNames: diffs, progress: (n) => bar.update(n) });
        w.flush();
      });
      bar.finish();
    } finally {
      for (const s of sources) s.close();
    }
  });
  return 0;
}
