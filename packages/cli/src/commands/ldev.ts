/**
 * blockwal ldev format LDEV --data-size BYTES [--pbs 512|4096] [--name NAME] [--size BYTES]
 * blockwal ldev show LDEV [--json]
 * blockwal ldev cat LDEV -o OUT [--begin LSID] [--end LSID]
 */
import { closeSync, openSync, ftruncateSync, fstatSync, constants as C } from 'node:fs';
import {
  LogDeviceReader,
  SequentialWriter,
  UsageError,
  countLogpack,
  emptyLogStats,
  catLogDevice,
  formatLogDevice,
  ioError,
  uuidToHex,
  withOutput,
  type LogEnd,
} from '@blockwal/core';
import { flag, parse, parseSize, parseUint, positionals, str } from '../args.js';
import { json, out, warn } from '../output.js';

export const usage = [
  'blockwal ldev format LDEV --data-size BYTES [--pbs 512|4096] [--name NAME] [--size BYTES]',
  'blockwal ldev show LDEV [--json]',
  'blockwal ldev cat LDEV -o OUT [--begin LSID] [--end LSID]',
].join('\n       ');

export function run(argv: string[]): number {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'format':
      return format(rest);
    case 'show':
      return show(rest);
    case 'cat':
      return cat(rest);
    default:
      throw new UsageError(`${sub === undefined ? 'missing' : `unknown`} ldev subcommand${sub ? ` "${sub}"` : ''}\nusage: ${usage}`);
  }
}

function format(argv: string[]): number {
  const u = 'blockwal ldev format LDEV --data-size BYTES [--pbs 512|4096] [--name NAME] [--size BYTES]';
  const p = parse(argv, { 'data-size': { type: 'string' }, pbs: { type: 'string' }, name: { type: 'string' }, size: { type: 'string' } }, u);
  const [file] = positionals(p, ['LDEV'], u);
  if (str(p, 'data-size') === undefined) throw new UsageError(`missing --data-size\nusage: ${u}`);
  const dataSize = parseSize(str(p, 'data-size')!, 'data size');
  const pbs = str(p, 'pbs') !== undefined ? parseUint(str(p, 'pbs')!, 'pbs') : 512;
  const size = str(p, 'size') !== undefined ? parseSize(str(p, 'size')!, 'log device size') : undefined;
  let fd: number;
  try {
    fd = openSync(file!, size !== undefined ? C.O_RDWR | C.O_CREAT : C.O_RDWR, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${file}: no such file (give --size BYTES to create a log device image)`);
    throw ioError('open', file, e);
  }
  try {
    if (size !== undefined) {
      if (!fstatSync(fd).isFile()) throw new UsageError(`--size only applies to image files, ${file} is not a regular file`);
      ftruncateSync(fd, size);
    }
    const s = formatLogDevice(fd, file!, { dataSize, pbs, name: str(p, 'name') });
    out(`formatted ${file}: pbs ${s.pbs}, ring ${s.ringBufferSize} pb, uuid ${uuidToHex(s.uuid)}, salt ${s.salt}`);
  } finally {
    closeSync(fd);
  }
  return 0;
}

function withReader<T>(file: string, fn: (r: LogDeviceReader) => T): T {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw ioError('open', file, e);
  }
  try {
    return fn(new LogDeviceReader(fd, file));
  } finally {
    closeSync(fd);
  }
}

function show(argv: string[]): number {
  const u = 'blockwal ldev show LDEV [--json]';
  const p = parse(argv, { json: { type: 'boolean' } }, u);
  const [file] = positionals(p, ['LDEV'], u);
  withReader(file!, (r) => {
    const s = r.super;
    const st = emptyLogStats();
    const it = r.packs();
    let end: LogEnd;
    for (;;) {
      const x = it.next();
      if (x.done) {
        end = x.value;
        break;
      }
      countLogpack(st, x.value.header);
    }
    const usagePb = end.lsid - s.oldestLsid;
    const info = {
      file,
      pbs: s.pbs,
      name: s.name,
      uuid: uuidToHex(s.uuid),
      salt: s.salt,
      ringBufferOffsetPb: r.layout.ringOffsetPb,
      ringBufferSizePb: s.ringBufferSize,
      deviceSizeLb: s.deviceSize,
      oldestLsid: s.oldestLsid,
      writtenLsid: s.writtenLsid,
      endLsid: end.lsid,
      endReason: end.reason,
      logUsagePb: usagePb,
      overflow: usagePb > s.ringBufferSize,
      ...st,
    };
    if (flag(p, 'json')) json(info);
    else {
      out(`log device ${file}: pbs ${s.pbs}, name "${s.name}", uuid ${info.uuid}, salt ${s.salt} (0x${s.salt.toString(16)})`);
      out(`ring buffer: offset ${info.ringBufferOffsetPb} pb, size ${s.ringBufferSize} pb; device size ${s.deviceSize} lb`);
      out(`lsids: oldest ${s.oldestLsid}, written ${s.writtenLsid}, end of log ${end.lsid} (${end.reason})`);
      out(`log usage ${usagePb} pb of ${s.ringBufferSize}${info.overflow ? ' (OVERFLOW)' : ''}`);
      out(`packs ${st.packs}, normal ${st.normalRecords} records ${st.normalLb} lb, discard ${st.discardRecords} records ${st.discardLb} lb, padding ${st.paddingPb} pb`);
    }
  });
  return 0;
}

function cat(argv: string[]): number {
  const u = 'blockwal ldev cat LDEV -o OUT [--begin LSID] [--end LSID]';
  const p = parse(argv, { output: { type: 'string', short: 'o' }, begin: { type: 'string' }, end: { type: 'string' } }, u);
  const [file] = positionals(p, ['LDEV'], u);
  const output = str(p, 'output');
  if (output === undefined) throw new UsageError(`missing -o OUT\nusage: ${u}`);
  const begin = str(p, 'begin') !== undefined ? parseUint(str(p, 'begin')!, 'begin lsid') : undefined;
  const end = str(p, 'end') !== undefined ? parseUint(str(p, 'end')!, 'end lsid') : undefined;
  withReader(file!, (r) => {
    const res = withOutput(output, (o) => {
      const w = new SequentialWriter(o.fd, { file: o.name, startOffset: o.isStream ? null : 0 });
      const x = catLogDevice(r, w, { begin, end });
      w.flush();
      return x;
    });
    if (res.truncated) warn(`${file}: ${res.end.reason}; the wlog ends there`);
  });
  return 0;
}
