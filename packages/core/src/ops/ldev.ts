/**
 * Log device operations: format a log device (or image), and extract a wlog from one.
 */
import { fstatSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { UsageError, ioError } from '../errors.js';
import { encodeSuperSector, ringBufferSizeFor, logDeviceLayout, lsidToPb, type SuperSector } from '../format/super-sector.js';
import { LOGICAL_BLOCK_SIZE, PAGE_SIZE, SUPER_SECTOR_BYTE_OFFSET, WALB_DEV_NAME_MAX_LEN, isValidPbs } from '../format/constants.js';
import { LogDeviceReader, type LogEnd } from '../format/log-device.js';
import { WlogWriter } from '../format/wlog-writer.js';
import type { SequentialWriter } from '../io/sequential-writer.js';

export interface FormatLogDeviceOptions {
  /** Size of the data device in bytes (a multiple of 512). */
  dataSize: number;
  pbs?: number;
  name?: string;
  /** For reproducible tests; random otherwise. */
  uuid?: Uint8Array;
  salt?: number;
}

/**
 * Writes a fresh super sector (random uuid and salt, oldest = written = 0) and invalidates the
 * block of lsid 0, as the WalB driver's CLEAR_LOG does, so that no stale pack is ever read.
 * `size` is the size of the log device in bytes (the file's size when not given).
 */
export function formatLogDevice(fd: number, file: string, opts: FormatLogDeviceOptions, size?: number): SuperSector {
  const pbs = opts.pbs ?? 512;
  if (!isValidPbs(pbs)) throw new UsageError(`invalid --pbs ${pbs}: use 512 or 4096 (a multiple of 512 that divides 4096)`);
  if (!Number.isSafeInteger(opts.dataSize) || opts.dataSize <= 0 || opts.dataSize % LOGICAL_BLOCK_SIZE !== 0) {
    throw new UsageError(`invalid data size ${opts.dataSize}: a positive multiple of 512 bytes`);
  }
  const name = opts.name ?? '';
  if (Buffer.byteLength(name, 'latin1') > WALB_DEV_NAME_MAX_LEN || !/^[\x20-\x7e]*$/.test(name)) {
    throw new UsageError(`invalid device name "${name}": at most ${WALB_DEV_NAME_MAX_LEN} printable ASCII characters`);
  }
  let bytes: number;
  try {
    bytes = size ?? fstatSync(fd).size;
  } catch (e) {
    throw ioError('stat', file, e);
  }
  const ring = ringBufferSizeFor(bytes, pbs);
  if (ring < 2) throw new UsageError(`log device ${file} is too small (${bytes} bytes): at least ${PAGE_SIZE + 4 * pbs} bytes are needed`);
  const s: SuperSector = {
    pbs,
    metadataSize: 0,
    salt: opts.salt ?? randomBytes(4).readUInt32LE(0),
    uuid: opts.uuid ?? new Uint8Array(randomBytes(16)),
    name,
    ringBufferSize: ring,
    oldestLsid: 0,
    writtenLsid: 0,
    deviceSize: opts.dataSize / LOGICAL_BLOCK_SIZE,
  };
  const layout = logDeviceLayout(pbs, ring);
  try {
    writeSync(fd, encodeSuperSector(s), 0, pbs, SUPER_SECTOR_BYTE_OFFSET);
    writeSync(fd, new Uint8Array(pbs), 0, pbs, lsidToPb(layout, 0) * pbs);
  } catch (e) {
    throw ioError('write super sector', file, e);
  }
  return s;
}

export interface CatResult {
  beginLsid: number;
  end: LogEnd;
  packs: number;
  truncated: boolean;
}

/**
 * Extracts packs [begin, end) as a wlog (walb-tools wlog-cat): begin defaults to the oldest lsid
 * and is not allowed below it; a pack truncated at a bad data checksum is written shrunk and
 * ends the output.
 */
export function catLogDevice(reader: LogDeviceReader, out: SequentialWriter, opts: { begin?: number; end?: number } = {}): CatResult {
  const s = reader.super;
  const begin = opts.begin ?? s.oldestLsid;
  if (begin < s.oldestLsid) throw new UsageError(`--begin ${begin} is below the oldest lsid ${s.oldestLsid} of ${reader.file}: that log may be overwritten`);
  const end = opts.end ?? Number.POSITIVE_INFINITY;
  if (!(begin < end)) throw new UsageError(`--begin ${begin} must be below --end ${end}`);
  const w = new WlogWriter(out, { salt: s.salt, pbs: s.pbs, uuid: s.uuid, beginLsid: begin, endLsid: end });
  const it = reader.packs(begin, end);
  let packs = 0;
  let truncated = false;
  for (;;) {
    const r = it.next();
    if (r.done) {
      w.close();
      return { beginLsid: begin, end: r.value, packs, truncated };
    }
    w.writePack(r.value.header, r.value.data);
    packs++;
    if (r.value.truncatedAt) truncated = true;
  }
}
