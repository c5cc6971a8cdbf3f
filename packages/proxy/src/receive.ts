/**
 * PushWlog, the domain side: admit a wlog (validate the header, refuse up front when busy or out
 * of space), convert it chunk by chunk into an indexed wdiff in tmp/, check that the stream is the
 * announced log and nothing else, make the file durable and link it into every archive's spool.
 * Only then does the caller answer OK (DESIGN.md "Receive").
 *
 * Each chunk is decoded synchronously (every logpack and record checksum, salt, uuid and lsid
 * continuity checked by WlogDecoder) and written out before the next one is read: memory stays
 * bounded by the chunk size plus the newest-wins index (spilled to tmp/ when large).
 */
import { closeSync, fstatSync, fsyncSync, openSync, rmSync, statfsSync, constants as C } from 'node:fs';
import { isAllZero } from '@blockwal/native-io';
import {
  DEFAULT_MAX_IO_LB,
  IndexedSink,
  IndexedWdiffWriter,
  LOGICAL_BLOCK_SIZE,
  LogRecordKind,
  NAME_PATTERN,
  RejectedError,
  SequentialWriter,
  WALBLOG_HEADER_SIZE,
  WlogDecoder,
  formatMetaDiff,
  ioError,
  isCleanDiff,
  isValidPbs,
  nextLogpackLsid,
  reasonOf,
  uuidToHex,
  type CompressionSpec,
  type Logger,
  type MetaDiff,
  type RejectReason,
} from '@blockwal/core';
import type { SpoolStore } from './store.js';

/** What a storage agent announces before the bytes of a wlog. */
export interface WlogPush {
  volume: string;
  deviceUuid: Uint8Array;
  pbs: number;
  salt: number;
  /** Bytes. */
  volumeSize: number;
  /** The diff the log becomes: clean |g0|-->|g1|. */
  diff: MetaDiff;
  /** The lsid range of the log, [begin, end). */
  beginLsid: number;
  endLsid: number;
}

export interface ReceiveLimits {
  /** Spool disk usage limit in bytes (0: none). */
  quotaBytes: number;
  /** Free disk space never used. */
  minFreeBytes: number;
  compression: CompressionSpec;
}

export interface ReceiveHooks {
  /** A wdiff of the volume was linked into the spools. */
  spooled(volume: string): void;
  received(volume: string, bytes: number): void;
  rejected(volume: string, reason: RejectReason): void;
}

export interface Received {
  wdiffName: string;
  /** Bytes of the wlog stream. */
  bytes: number;
}

/** Free bytes of the filesystem holding `dir` for an unprivileged writer. */
export function freeDiskBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

export class WlogReceiver {
  /** Volumes being received (one at a time per volume). */
  private readonly receiving = new Set<string>();
  /** Bytes announced by the receives in flight (counted against quota and free space). */
  private reserved = 0;
  private stopping = false;

  constructor(
    private readonly store: SpoolStore,
    private readonly limits: ReceiveLimits,
    private readonly hooks: ReceiveHooks,
    private readonly log: Logger,
    private readonly freeBytes: () => number = () => freeDiskBytes(store.dir),
  ) {}

  /** Refuses new wlogs from now on (close). */
  stop(): void {
    this.stopping = true;
  }

  /** Receives in flight. */
  get active(): number {
    return this.receiving.size;
  }

  /**
   * Admits `h`, then consumes `chunks` (the verified bytes of the stream; the iteration ends only
   * after the stream's end and total CRC were checked) and stores the wdiff.
   */
  async receive(h: WlogPush, chunks: AsyncIterable<Uint8Array>): Promise<Received> {
    const volume = NAME_PATTERN.test(h.volume) ? h.volume : '-';
    let admitted = false;
    let announced = 0;
    try {
      announced = this.admit(h);
      admitted = true;
      return await this.convert(h, chunks);
    } catch (e) {
      this.refused(volume, e, h.diff);
      throw e;
    } finally {
      if (admitted) {
        this.receiving.delete(h.volume);
        this.reserved -= announced;
      }
    }
  }

  /** Counts and logs a refusal (also for headers refused before `receive`). */
  refused(volume: string, e: unknown, diff?: MetaDiff): void {
    const reason = reasonOf(e);
    this.hooks.rejected(NAME_PATTERN.test(volume) ? volume : '-', reason);
    this.log.warn({ volume, diff: safeDiff(diff), reason, err: (e as Error).message }, 'wlog refused');
  }

  /** Validates the header and reserves its space; returns the bytes reserved. */
  private admit(h: WlogPush): number {
    validate(h);
    if (this.stopping) throw new RejectedError('stopped', 'the proxy is stopping', { volume: h.volume });
    if (this.receiving.has(h.volume)) throw new RejectedError('busy', 'another wlog of this volume is being received', { volume: h.volume });
    const bytes = maxWlogBytes(h);
    const { quotaBytes, minFreeBytes } = this.limits;
    const used = this.store.totalBytes + this.reserved;
    if (quotaBytes > 0 && used + bytes > quotaBytes) {
      throw new RejectedError('no-space', `spool quota reached: ${used} bytes used or reserved + ${bytes} announced > quota ${quotaBytes}`, { volume: h.volume });
    }
    const free = this.freeBytes() - this.reserved;
    if (free - bytes < minFreeBytes) {
      throw new RejectedError('no-space', `disk nearly full: ${free} bytes free - ${bytes} announced < minFreeBytes ${minFreeBytes}`, { volume: h.volume });
    }
    this.receiving.add(h.volume);
    this.reserved += bytes;
    return bytes;
  }

  private async convert(h: WlogPush, chunks: AsyncIterable<Uint8Array>): Promise<Received> {
    const where = { volume: h.volume };
    const tmp = this.store.tmpFile(h.volume);
    let fd = -1;
    let sink: IndexedSink | null = null;
    try {
      try {
        fd = openSync(tmp, C.O_RDWR | C.O_CREAT | C.O_EXCL, 0o644);
      } catch (e) {
        throw ioError('create', tmp, e);
      }
      const out = new SequentialWriter(fd, { file: tmp });
      const writer = new IndexedWdiffWriter(out, { uuid: h.deviceUuid, compression: this.limits.compression, file: tmp });
      sink = new IndexedSink(writer, DEFAULT_MAX_IO_LB, { tmpDir: this.store.tmpDir });
      const decoder = new WlogDecoder(wlogChecker(h, sink), `wlog of ${h.volume} ${formatMetaDiff(h.diff)}`);
      const limit = maxWlogBytes(h);
      let bytes = 0;
      for await (const chunk of chunks) {
        bytes += chunk.length;
        if (bytes > limit) throw new RejectedError('bad-argument', `the wlog is longer than its lsid range [${h.beginLsid}, ${h.endLsid}) allows (${limit} bytes)`, where);
        decoder.push(chunk);
      }
      decoder.end();
      if (!decoder.wlogHeader) throw new RejectedError('bad-argument', 'the stream holds no wlog', where);
      if (decoder.endLsid !== h.endLsid) throw new RejectedError('bad-argument', `the wlog ends at lsid ${decoder.endLsid}, the header said ${h.endLsid}`, where);
      sink.finish();
      sink = null;
      out.flush();
      try {
        fsyncSync(fd);
      } catch (e) {
        throw ioError('fsync', tmp, e);
      }
      const size = fstatSync(fd).size;
      closeSync(fd);
      fd = -1;
      this.store.saveVolumeSize(h.volume, h.volumeSize);
      const wdiffName = this.store.commit(tmp, h.volume, uuidToHex(h.deviceUuid), { ...h.diff, dataSize: size });
      this.log.info({ volume: h.volume, wdiff: wdiffName, wlogBytes: bytes, wdiffBytes: size }, 'wlog spooled');
      this.hooks.received(h.volume, bytes);
      this.hooks.spooled(h.volume);
      return { wdiffName, bytes };
    } finally {
      sink?.close();
      if (fd >= 0) closeSync(fd);
      rmSync(tmp, { force: true });
    }
  }
}

/** The largest wlog the header allows: file header, the lsid range, an end marker. */
function maxWlogBytes(h: WlogPush): number {
  return WALBLOG_HEADER_SIZE + (h.endLsid - h.beginLsid + 1) * h.pbs;
}

function validate(h: WlogPush): void {
  const bad = (what: string) => new RejectedError('bad-argument', what, NAME_PATTERN.test(h.volume) ? { volume: h.volume } : {});
  if (!NAME_PATTERN.test(h.volume)) throw bad(`bad volume name ${JSON.stringify(h.volume.slice(0, 80))}: must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}`);
  if (h.deviceUuid.length !== 16) throw bad(`device uuid must be 16 bytes, got ${h.deviceUuid.length}`);
  if (!isValidPbs(h.pbs)) throw bad(`bad physical block size ${h.pbs}`);
  if (!Number.isSafeInteger(h.volumeSize) || h.volumeSize <= 0 || h.volumeSize % LOGICAL_BLOCK_SIZE !== 0) throw bad(`bad volume size ${h.volumeSize}: a positive multiple of 512`);
  if (!Number.isSafeInteger(h.beginLsid) || !Number.isSafeInteger(h.endLsid) || h.beginLsid < 0 || h.beginLsid >= h.endLsid) {
    throw bad(`bad lsid range [${h.beginLsid}, ${h.endLsid})`);
  }
  if (!Number.isSafeInteger(maxWlogBytes(h))) throw bad(`lsid range [${h.beginLsid}, ${h.endLsid}) too long`);
  if (!isCleanDiff(h.diff) || h.diff.isCompDiff) throw bad(`diff ${formatMetaDiff(h.diff)} must be clean and not compared`);
}

/** Decoder visitor: checks the wlog against the header and feeds the records to the sink. */
function wlogChecker(h: WlogPush, sink: IndexedSink) {
  const where = { volume: h.volume };
  const uuid = uuidToHex(h.deviceUuid);
  const volumeLb = h.volumeSize / LOGICAL_BLOCK_SIZE;
  let first = true;
  return {
    header(w: { uuid: Uint8Array; salt: number; pbs: number; beginLsid: number }) {
      if (uuidToHex(w.uuid) !== uuid) throw new RejectedError('bad-argument', `the wlog's device uuid ${uuidToHex(w.uuid)} is not the header's ${uuid}`, where);
      if (w.salt !== h.salt) throw new RejectedError('bad-argument', `the wlog's checksum salt ${w.salt} is not the header's ${h.salt}`, where);
      if (w.pbs !== h.pbs) throw new RejectedError('bad-argument', `the wlog's pbs ${w.pbs} is not the header's ${h.pbs}`, where);
      if (first && w.beginLsid !== h.beginLsid) throw new RejectedError('bad-argument', `the wlog begins at lsid ${w.beginLsid}, the header said ${h.beginLsid}`, where);
      first = false;
    },
    pack(p: Parameters<typeof nextLogpackLsid>[0]) {
      const next = nextLogpackLsid(p);
      if (next > h.endLsid) throw new RejectedError('bad-argument', `the logpack at lsid ${p.logpackLsid} ends at ${next}, past the header's end lsid ${h.endLsid}`, where);
    },
    record(_p: unknown, _i: number, rec: { kind: LogRecordKind; offset: number; ioSize: number; lsid: number }, data: Uint8Array | null) {
      if (rec.kind === LogRecordKind.Padding) return;
      if (rec.offset + rec.ioSize > volumeLb) {
        throw new RejectedError('bad-argument', `record at lsid ${rec.lsid} writes lb [${rec.offset}, ${rec.offset + rec.ioSize}) beyond the volume size (${volumeLb} lb)`, where);
      }
      if (rec.kind === LogRecordKind.Discard) sink.addDiscard(rec.offset, rec.ioSize);
      else if (isAllZero(data!)) sink.addAllZero(rec.offset, rec.ioSize);
      else sink.addNormal(rec.offset, rec.ioSize, data!);
    },
  };
}

function safeDiff(d: MetaDiff | undefined): string | undefined {
  try {
    return d ? formatMetaDiff(d) : undefined;
  } catch {
    return undefined;
  }
}
