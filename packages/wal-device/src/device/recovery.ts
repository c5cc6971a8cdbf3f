/**
 * Recovery when a WAL device opens (what the WalB driver does on assembly): redo the log from
 * the last checkpoint (written_lsid) onto the data device, up to the first invalid logpack; then
 * make the end of the log unambiguous and record the new checkpoint.
 *
 * Making the end unambiguous: packs written after the last log sync may have reached the disk in
 * any order before a power cut, so valid-looking packs can lie beyond the first invalid one.
 * Were one of them to fall exactly where a future pack ends, a reader would take it for the
 * continuation of the log. The device never has more than `scanBytes` of log beyond its last
 * sync, so every position in [end, end + scanBytes) holding a valid header for its own lsid is
 * zeroed here (and the block at `end` always is).
 */
import {
  LOGICAL_BLOCK_SIZE,
  LogRecordKind,
  decodeLogpackHeader,
  encodeLogpackHeader,
  lsidToPb,
  nextLogpackLsid,
  recordDataPb,
  shrinkLogpack,
  walbChecksum,
  type LogDeviceLayout,
  type LogpackHeader,
  type SuperSector,
} from '@blockwal/core';
import type { DeviceFile } from './device-file.js';
import { writeSuper } from './super-store.js';

export interface RecoveryResult {
  /** lsid where the log ends (the new checkpoint). */
  endLsid: number;
  /** Packs redone onto the data device. */
  packsRedone: number;
  /** Bytes of data written (normal records) and zeroed (discards). */
  bytesRedone: number;
  /** A pack cut short at a bad data checksum (its header was rewritten). */
  truncatedPack: number | null;
  /** Stale packs beyond the end that were invalidated. */
  staleInvalidated: number;
  /** WalB's overflow rule: the log since oldest is longer than the ring, or oldest is not a pack. */
  overflow: boolean;
  super: SuperSector;
}

export function recover(log: DeviceFile, data: DeviceFile, s: SuperSector, layout: LogDeviceLayout, scanBytes: number): RecoveryResult {
  const pbs = s.pbs;
  const readBlocks = (lsid: number, n: number): Buffer => {
    const b = Buffer.alloc(n * pbs);
    for (let done = 0; done < n; ) {
      const l = lsid + done;
      const run = Math.min(n - done, s.ringBufferSize - (l % s.ringBufferSize));
      log.readSync(b.subarray(done * pbs, (done + run) * pbs), lsidToPb(layout, l) * pbs);
      done += run;
    }
    return b;
  };
  const writeBlock = (lsid: number, block: Uint8Array) => log.writeSync(block, lsidToPb(layout, lsid) * pbs);

  let lsid = s.writtenLsid;
  let packsRedone = 0;
  let bytesRedone = 0;
  let truncatedPack: number | null = null;
  for (;;) {
    const h = decodeLogpackHeader(readBlocks(lsid, 1), pbs, s.salt, lsid);
    if (typeof h === 'string') break;
    const body = readBlocks(lsid + 1, h.totalIoSize);
    const keep = validRecords(h, body);
    const pack: LogpackHeader = keep < h.records.length ? shrinkLogpack(h, keep) : h;
    if (keep === 0) break; // the whole pack is bad: the log ends before it
    if (keep < h.records.length) {
      writeBlock(lsid, encodeLogpackHeader(pack));
      truncatedPack = lsid;
    }
    bytesRedone += applyPack(pack, body, data);
    packsRedone++;
    lsid = nextLogpackLsid(pack);
    if (keep < h.records.length) break;
  }
  const end = lsid;
  const staleInvalidated = invalidateBeyond(end, Math.ceil(scanBytes / pbs), s, readBlocks, writeBlock);
  writeBlock(end, new Uint8Array(pbs));
  log.datasyncSync();
  data.datasyncSync();
  const updated: SuperSector = { ...s, writtenLsid: end, oldestLsid: Math.min(s.oldestLsid, end) };
  writeSuper(log, updated);
  let overflow = end - updated.oldestLsid > s.ringBufferSize;
  if (!overflow && end > updated.oldestLsid) {
    overflow = typeof decodeLogpackHeader(readBlocks(updated.oldestLsid, 1), pbs, s.salt, updated.oldestLsid) === 'string';
  }
  return { endLsid: end, packsRedone, bytesRedone, truncatedPack, staleInvalidated, overflow, super: updated };
}

/** Number of leading records whose data checksums verify. */
function validRecords(h: LogpackHeader, body: Uint8Array): number {
  let pb = 0;
  for (let i = 0; i < h.records.length; i++) {
    const r = h.records[i]!;
    if (r.kind === LogRecordKind.Normal) {
      const data = body.subarray(pb * h.pbs, pb * h.pbs + r.ioSize * LOGICAL_BLOCK_SIZE);
      if (walbChecksum(data, h.salt) !== r.checksum) return i;
    }
    pb += recordDataPb(h.pbs, r);
  }
  return h.records.length;
}

/** Applies a pack's records to the data device in order (discards zero-fill). */
function applyPack(h: LogpackHeader, body: Uint8Array, data: DeviceFile): number {
  let pb = 0;
  let bytes = 0;
  for (const r of h.records) {
    const len = r.ioSize * LOGICAL_BLOCK_SIZE;
    if (r.kind === LogRecordKind.Normal) data.writeSync(body.subarray(pb * h.pbs, pb * h.pbs + len), r.offset * LOGICAL_BLOCK_SIZE);
    else if (r.kind === LogRecordKind.Discard) data.zero(r.offset * LOGICAL_BLOCK_SIZE, len, false);
    if (r.kind !== LogRecordKind.Padding) bytes += len;
    pb += recordDataPb(h.pbs, r);
  }
  return bytes;
}

function invalidateBeyond(
  end: number,
  span: number,
  s: SuperSector,
  readBlocks: (lsid: number, n: number) => Buffer,
  writeBlock: (lsid: number, b: Uint8Array) => void,
): number {
  const pbs = s.pbs;
  const n = Math.min(span, s.ringBufferSize - 1);
  let count = 0;
  const CHUNK = Math.max(1, Math.floor((4 << 20) / pbs));
  for (let at = 1; at < n; at += CHUNK) {
    const k = Math.min(CHUNK, n - at);
    const blocks = readBlocks(end + at, k);
    for (let i = 0; i < k; i++) {
      const b = blocks.subarray(i * pbs, (i + 1) * pbs);
      if (b[4] !== 3 || b[5] !== 0) continue; // not a logpack header (sector type 3)
      if (typeof decodeLogpackHeader(b, pbs, s.salt, end + at + i) === 'string') continue;
      writeBlock(end + at + i, new Uint8Array(pbs));
      count++;
    }
  }
  return count;
}
