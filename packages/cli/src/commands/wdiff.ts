/**
 * blockwal wdiff show FILE [--stat] [--json] [--verify]
 * blockwal wdiff merge -o OUT IN... [--indexed] [--max-io-size BYTES] [--compress TYPE[:LEVEL]] [--uuid HEX]
 * blockwal wdiff redo IN IMAGE [--discard zero|ignore]
 * blockwal wdiff full IMAGE -o OUT [--indexed] [--io-size BYTES] [--compress TYPE[:LEVEL]]
 * blockwal wdiff name GID... [--no-merge] [--compared] [--time YYYYMMDDhhmmss]
 */
import { statSync } from 'node:fs';
import {
  DEFAULT_MAX_IO_LB,
  DiffKind,
  IndexedSink,
  IndexedWdiffWriter,
  SequentialWriter,
  SortedSink,
  SortedWdiffWriter,
  UsageError,
  closeImage,
  compressionName,
  countRecord,
  emptyWdiffStats,
  diffKindName,
  formatWdiffStat,
  fullToWdiff,
  mergeWdiffs,
  openImage,
  openWdiff,
  redoWdiff,
  uuidFromHex,
  uuidToHex,
  wdiffNameFromArgs,
  wdiffStats,
  wdiffTypeName,
  withInput,
  withOutput,
  type DiffSink,
  type WdiffSource,
} from '@blockwal/core';
import { flag, parse, parseSize, positionals, str } from '../args.js';
import { hex32, json, out, warn } from '../output.js';
import { progress } from '../progress.js';
import { compressionOption, discardOption, maxIoOption } from './common.js';

export const usage = [
  'blockwal wdiff show FILE [--stat] [--json] [--verify]',
  'blockwal wdiff merge -o OUT IN... [--indexed] [--max-io-size BYTES] [--compress TYPE[:LEVEL]] [--uuid HEX]',
  'blockwal wdiff redo IN IMAGE [--discard zero|ignore]',
  'blockwal wdiff full IMAGE -o OUT [--indexed] [--io-size BYTES] [--compress TYPE[:LEVEL]]',
  'blockwal wdiff name GID... [--no-merge] [--compared] [--time YYYYMMDDhhmmss]   (2 or 4 gids)',
].join('\n       ');

export function run(argv: string[]): number {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'show':
      return show(rest);
    case 'merge':
      return merge(rest);
    case 'redo':
      return redo(rest);
    case 'full':
      return full(rest);
    case 'name':
      return name(rest);
    default:
      throw new UsageError(`${sub === undefined ? 'missing wdiff subcommand' : `unknown wdiff subcommand "${sub}"`}\nusage: ${usage}`);
  }
}

/** Size of a regular file, or null (stdin, pipes). */
function sizeOf(file: string): number | null {
  if (file === '-') return null;
  try {
    const st = statSync(file);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

function withSource<T>(file: string, fn: (s: WdiffSource) => T): T {
  const s = openWdiff(file);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

function show(argv: string[]): number {
  const u = 'blockwal wdiff show FILE [--stat] [--json] [--verify]';
  const p = parse(argv, { stat: { type: 'boolean' }, json: { type: 'boolean' }, verify: { type: 'boolean' } }, u);
  const [file] = positionals(p, ['FILE'], u);
  const asJson = flag(p, 'json');
  const verify = flag(p, 'verify');
  withSource(file!, (src) => {
    const h = src.header;
    const head = { type: 'header', layout: wdiffTypeName(h.type), version: h.version, checksum: h.checksum, uuid: uuidToHex(h.uuid) };
    if (flag(p, 'stat') && !verify) {
      const st = wdiffStats(src);
      if (asJson) json({ ...head, type: 'stat', ...st });
      else formatWdiffStat(h, st).forEach((l) => out(l));
      return;
    }
    if (!flag(p, 'stat')) {
      if (asJson) json(head);
      else out(`wdiff ${src.file}: ${head.layout}, version ${h.version}, checksum ${hex32(h.checksum)}, uuid ${head.uuid}`);
    }
    const st = { ...emptyWdiffStats(), verified: verify };
    for (let r = src.next(); r !== null; r = src.next()) {
      countRecord(st, r.kind, r.blocks);
      if (r.kind === DiffKind.Normal) {
        st.dataSize += r.dataSize;
        if (verify) src.readData(r);
      }
      if (flag(p, 'stat')) continue;
      const extra = 'ioOffset' in r ? { dataOffset: r.dataOffset, ioOffset: r.ioOffset, origBlocks: r.origBlocks } : {};
      if (asJson) {
        json({ type: 'record', address: r.address, blocks: r.blocks, kind: diffKindName(r.kind), compression: compressionName(r.compression), dataSize: r.dataSize, checksum: r.checksum, ...extra });
      } else {
        const k = r.kind === DiffKind.Normal ? `${compressionName(r.compression).padEnd(6)} size ${r.dataSize} checksum ${hex32(r.checksum)}` : diffKindName(r.kind);
        const idx = 'ioOffset' in r ? ` image ${r.dataOffset}+${r.ioOffset}/${r.origBlocks}` : '';
        out(`${String(r.address).padStart(12)} ${String(r.blocks).padStart(6)} ${k}${idx}`);
      }
    }
    if (src.indexed) st.dataSize = src.indexed.dataAreaSize;
    if (asJson) json({ type: 'stat', ...st });
    else if (flag(p, 'stat')) formatWdiffStat(h, st).forEach((l) => out(l));
    else out(`records: normal ${st.normalNr} (${st.normalLb} lb), allzero ${st.allZeroNr} (${st.allZeroLb} lb), discard ${st.discardNr} (${st.discardLb} lb); stored ${st.dataSize} bytes${verify ? '; all data verified' : ''}`);
  });
  return 0;
}

function merge(argv: string[]): number {
  const u = 'blockwal wdiff merge -o OUT IN... [--indexed] [--max-io-size BYTES] [--compress TYPE[:LEVEL]] [--uuid HEX]';
  const p = parse(argv, { output: { type: 'string', short: 'o' }, indexed: { type: 'boolean' }, 'max-io-size': { type: 'string' }, compress: { type: 'string' }, uuid: { type: 'string' } }, u);
  const inputs = positionals(p, ['IN'], u, { rest: true, min: 1 });
  const output = str(p, 'output');
  if (output === undefined) throw new UsageError(`missing -o OUT\nusage: ${u}`);
  const compression = compressionOption(str(p, 'compress'));
  const indexed = flag(p, 'indexed');
  const maxIo = maxIoOption(str(p, 'max-io-size')) ?? (indexed ? DEFAULT_MAX_IO_LB : 0);
  const uuidText = str(p, 'uuid');
  const sources: WdiffSource[] = [];
  try {
    for (const f of inputs) sources.push(openWdiff(f));
    let uuid: Uint8Array;
    try {
      uuid = uuidText !== undefined ? uuidFromHex(uuidText) : sources[sources.length - 1]!.header.uuid;
    } catch (e) {
      throw new UsageError(`invalid --uuid: ${(e as Error).message}`);
    }
    withOutput(output, (o) => {
      const w = new SequentialWriter(o.fd, { file: o.name, startOffset: o.isStream ? null : 0 });
      let indexedSink: IndexedSink | null = null;
      const sink: DiffSink = indexed
        ? (indexedSink = new IndexedSink(new IndexedWdiffWriter(w, { uuid, compression, file: o.name }), maxIo))
        : new SortedSink(new SortedWdiffWriter(w, { uuid, compression, file: o.name }), maxIo);
      const total = inputs.reduce((t, f) => t + (sizeOf(f) ?? 0), 0);
      const bar = progress('merge', total || null);
      let n = 0;
      try {
        mergeWdiffs(sources, sink, compression, () => {
          if ((++n & 1023) === 0) bar.update(sources.reduce((t, s) => t + s.progressBytes, 0));
        });
      } finally {
        bar.finish();
        indexedSink?.close();
      }
      w.flush();
    });
  } finally {
    for (const s of sources) s.close();
  }
  return 0;
}

function redo(argv: string[]): number {
  const u = 'blockwal wdiff redo IN IMAGE [--discard zero|ignore]';
  const p = parse(argv, { discard: { type: 'string' } }, u);
  const [input, imageFile] = positionals(p, ['IN', 'IMAGE'], u);
  const discard = discardOption(str(p, 'discard'));
  withSource(input!, (src) => {
    const image = openImage(imageFile!);
    const bar = progress('redo', sizeOf(input!));
    try {
      redoWdiff(src, image, { discard, progress: (b) => bar.update(b) });
    } finally {
      bar.finish();
      closeImage(image);
    }
  });
  return 0;
}

function full(argv: string[]): number {
  const u = 'blockwal wdiff full IMAGE -o OUT [--indexed] [--io-size BYTES] [--compress TYPE[:LEVEL]]';
  const p = parse(argv, { output: { type: 'string', short: 'o' }, indexed: { type: 'boolean' }, 'io-size': { type: 'string' }, compress: { type: 'string' } }, u);
  const [imageFile] = positionals(p, ['IMAGE'], u);
  const output = str(p, 'output');
  if (output === undefined) throw new UsageError(`missing -o OUT\nusage: ${u}`);
  const ioSize = str(p, 'io-size') !== undefined ? parseSize(str(p, 'io-size')!, 'io size') : undefined;
  const compression = compressionOption(str(p, 'compress'));
  withInput(imageFile!, (inp) => {
    const bar = progress('full', inp.size);
    const st = withOutput(output, (o) => {
      const w = new SequentialWriter(o.fd, { file: o.name, startOffset: o.isStream ? null : 0 });
      const r = fullToWdiff(inp.fd, inp.seekable, w, { indexed: flag(p, 'indexed'), ioSize, compression, inputName: inp.name, outputName: o.name, progress: (b) => bar.update(b) });
      w.flush();
      return r;
    });
    bar.finish();
    if (st.droppedTailBytes > 0) warn(`${inp.name}: the last ${st.droppedTailBytes} bytes are not a whole 512-byte sector and are not in the wdiff`);
  });
  return 0;
}

function name(argv: string[]): number {
  const u = 'blockwal wdiff name GID... [--no-merge] [--compared] [--time YYYYMMDDhhmmss]   (2 or 4 gids)';
  const p = parse(argv, { 'no-merge': { type: 'boolean' }, compared: { type: 'boolean' }, time: { type: 'string' } }, u);
  const gids = positionals(p, ['GID', 'GID'], u, { rest: true, min: 0 });
  out(wdiffNameFromArgs({ gids, mergeable: !flag(p, 'no-merge'), compared: flag(p, 'compared'), time: str(p, 'time') }, Math.floor(Date.now() / 1000)));
  return 0;
}
