/**
 * blockwal wlog show FILE [--stat] [--json]
 * blockwal wlog to-wdiff IN OUT [--indexed] [--max-io-size BYTES] [--compress TYPE[:LEVEL]]
 * blockwal wlog redo IN IMAGE [--discard zero|ignore]
 */
import {
  LogRecordKind,
  SequentialWriter,
  UsageError,
  countLogpack,
  emptyLogStats,
  closeImage,
  decodeWlogFd,
  openImage,
  redoWlog,
  uuidToHex,
  withInput,
  withOutput,
  wlogToWdiff,
  type LogRecord,
} from '@blockwal/core';
import { flag, parse, positionals, str } from '../args.js';
import { json, out } from '../output.js';
import { progress } from '../progress.js';
import { compressionOption, discardOption, maxIoOption } from './common.js';

export const usage = [
  'blockwal wlog show FILE [--stat] [--json]',
  'blockwal wlog to-wdiff IN OUT [--indexed] [--max-io-size BYTES] [--compress TYPE[:LEVEL]]',
  'blockwal wlog redo IN IMAGE [--discard zero|ignore]',
].join('\n       ');

export function run(argv: string[]): number {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'show':
      return show(rest);
    case 'to-wdiff':
      return toWdiff(rest);
    case 'redo':
      return redo(rest);
    default:
      throw new UsageError(`${sub === undefined ? 'missing wlog subcommand' : `unknown wlog subcommand "${sub}"`}\nusage: ${usage}`);
  }
}

const kindName = (r: LogRecord) => (r.kind === LogRecordKind.Normal ? 'normal' : r.kind === LogRecordKind.Discard ? 'discard' : 'padding');

function show(argv: string[]): number {
  const u = 'blockwal wlog show FILE [--stat] [--json]';
  const p = parse(argv, { stat: { type: 'boolean' }, json: { type: 'boolean' } }, u);
  const [file] = positionals(p, ['FILE'], u);
  const asJson = flag(p, 'json');
  const statOnly = flag(p, 'stat');
  const st = { beginLsid: 0, endLsid: null as number | null, reallyEndLsid: 0, ...emptyLogStats() };
  withInput(file!, (inp) => {
    const dec = decodeWlogFd(
      inp.fd,
      {
        header(h) {
          if (st.packs === 0) st.beginLsid = h.beginLsid;
          st.endLsid = Number.isFinite(h.endLsid) ? h.endLsid : null;
          if (statOnly) return;
          const o = { type: 'header', pbs: h.pbs, salt: h.salt, uuid: uuidToHex(h.uuid), beginLsid: h.beginLsid, endLsid: st.endLsid };
          if (asJson) json(o);
          else out(`wlog ${inp.name}: pbs ${h.pbs} salt 0x${h.salt.toString(16).padStart(8, '0')} uuid ${o.uuid} lsid ${h.beginLsid} to ${st.endLsid ?? 'end'}`);
        },
        pack(pack) {
          countLogpack(st, pack);
          if (statOnly) return;
          if (asJson) {
            json({
              type: 'pack',
              lsid: pack.logpackLsid,
              totalIoSize: pack.totalIoSize,
              nPadding: pack.nPadding,
              checksum: pack.checksum,
              records: pack.records.map((r) => ({ kind: kindName(r), address: r.offset, ioSize: r.ioSize, lsid: r.lsid, checksum: r.checksum })),
            });
          } else {
            out(`pack lsid ${pack.logpackLsid}: ${pack.records.length} records, ${pack.totalIoSize} pb, checksum 0x${pack.checksum.toString(16).padStart(8, '0')}`);
            pack.records.forEach((r, i) => {
              const where = r.kind === LogRecordKind.Padding ? '' : ` address ${r.offset}`;
              const sum = r.kind === LogRecordKind.Normal ? ` checksum 0x${r.checksum.toString(16).padStart(8, '0')}` : '';
              out(`  ${String(i).padStart(3)} ${kindName(r).padEnd(7)}${where} size ${r.ioSize} lb lsid ${r.lsid}${sum}`);
            });
          }
        },
        record() {},
      },
      { file: inp.name, seekable: inp.seekable },
    );
    st.reallyEndLsid = dec.endLsid;
  });
  if (asJson) json({ type: 'stat', ...st });
  else {
    if (!statOnly) out('');
    out(`bgnLsid ${st.beginLsid}`);
    out(`endLsid ${st.endLsid ?? 'none'}`);
    out(`reallyEndLsid ${st.reallyEndLsid}`);
    out(`nrPacks ${st.packs}`);
    out(`normalNr ${st.normalRecords}`);
    out(`normalLb ${st.normalLb}`);
    out(`discardNr ${st.discardRecords}`);
    out(`discardLb ${st.discardLb}`);
    out(`paddingNr ${st.paddingRecords}`);
    out(`paddingPb ${st.paddingPb}`);
  }
  return 0;
}

function toWdiff(argv: string[]): number {
  const u = 'blockwal wlog to-wdiff IN OUT [--indexed] [--max-io-size BYTES] [--compress TYPE[:LEVEL]]';
  const p = parse(argv, { indexed: { type: 'boolean' }, 'max-io-size': { type: 'string' }, compress: { type: 'string' } }, u);
  const [input, output] = positionals(p, ['IN', 'OUT'], u);
  const maxIoBlocks = maxIoOption(str(p, 'max-io-size'));
  const compression = compressionOption(str(p, 'compress'));
  withInput(input!, (inp) => {
    const bar = progress('to-wdiff', inp.size);
    withOutput(output!, (o) => {
      const w = new SequentialWriter(o.fd, { file: o.name, startOffset: o.isStream ? null : 0 });
      wlogToWdiff(inp.fd, inp.seekable, w, {
        indexed: flag(p, 'indexed'),
        maxIoBlocks,
        compression,
        inputName: inp.name,
        outputName: o.name,
        progress: (b) => bar.update(b),
      });
      w.flush();
    });
    bar.finish();
  });
  return 0;
}

function redo(argv: string[]): number {
  const u = 'blockwal wlog redo IN IMAGE [--discard zero|ignore]';
  const p = parse(argv, { discard: { type: 'string' } }, u);
  const [input, imageFile] = positionals(p, ['IN', 'IMAGE'], u);
  const discard = discardOption(str(p, 'discard'));
  withInput(input!, (inp) => {
    const image = openImage(imageFile!);
    const bar = progress('redo', inp.size);
    try {
      redoWlog(inp.fd, inp.name, image, { discard, seekable: inp.seekable, progress: (b) => bar.update(b) });
    } finally {
      bar.finish();
      closeImage(image);
    }
  });
  return 0;
}
