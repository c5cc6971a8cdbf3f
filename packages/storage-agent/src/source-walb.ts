/**
 * A WalB log device as a log source.
 *
 * Image mode (tests, offline images): the log device image written with core's format tools and
 * a data image. The durable end of the log is found by scanning logpacks from the oldest lsid (a
 * block that is not a valid pack for its lsid, or a pack whose data checksum fails, ends the log,
 * as in LogDeviceReader); the oldest lsid is the agent's own (its done record), given at open.
 *
 * Kernel mode (`kernel: true`; not testable here): `logPath` is the WalB log device
 * (/dev/walb/L<name>, read with O_DIRECT), `dataPath` the WalB device (/dev/walb/<name>); lsids,
 * overflow, freeing and clearing the log go through the WalB ioctls of @blockwal/native-io.
 */
import fs from 'node:fs';
import {
  PAGE_SIZE,
  SUPER_SECTOR_BYTE_OFFSET,
  decodeLogpackHeader,
  formatLogDevice,
  ioError,
  logDeviceLayout,
  lsidToPb,
  parseSuperSector,
  readBuffer,
  type SuperSector,
} from '@blockwal/core';
import { allocAligned, openFile, walbClearLog, walbGetLsid, walbIsLogOverflow, walbSetOldestLsid } from '@blockwal/native-io';
import { readFull } from './fd-read.js';
import { LogRing } from './log-ring.js';
import type { LogSource, LogpackData, SourceIdentity, SourceLsids, SourceSpec } from './source.js';

export interface WalbSourceOptions {
  /** The agent's oldest lsid (its done record); default: the super sector's. */
  oldestLsid?: number;
  /** Poll interval of watch(), ms. */
  pollMs?: number;
}

export class WalbLogDeviceSource implements LogSource {
  readonly nbdUri = undefined;
  private sup!: SuperSector;
  private ring!: LogRing;
  private oldest: number;
  /** End of the valid log found so far (image mode). */
  private end: number;
  private overflow = false;
  private readonly watchers = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;
  private lastSeen = -1;
  private readonly kernel: boolean;
  private readonly alloc: (n: number) => Uint8Array;

  private constructor(
    readonly spec: SourceSpec & { kind: 'walb' },
    private readonly logFd: number,
    private readonly dataFd: number,
    private readonly direct: boolean,
    private readonly opts: WalbSourceOptions,
  ) {
    this.kernel = spec.kernel === true;
    this.alloc = direct ? (n) => allocAligned(Math.max(n, 4096)).subarray(0, n) : readBuffer;
    this.loadSuper();
    this.oldest = this.kernel ? walbGetLsid(dataFd, 'oldest') : (opts.oldestLsid ?? this.sup.oldestLsid);
    this.end = this.oldest;
  }

  static open(spec: SourceSpec & { kind: 'walb' }, opts: WalbSourceOptions = {}): WalbLogDeviceSource {
    const kernel = spec.kernel === true;
    let log: { fd: number; direct: boolean };
    try {
      log = kernel ? openFile(spec.logPath, { direct: true }) : { fd: fs.openSync(spec.logPath, 'r+'), direct: false };
    } catch (e) {
      throw ioError('open', spec.logPath, e);
    }
    let dataFd: number;
    try {
      dataFd = fs.openSync(spec.dataPath, kernel ? 'r+' : 'r');
    } catch (e) {
      fs.closeSync(log.fd);
      throw ioError('open', spec.dataPath, e);
    }
    return new WalbLogDeviceSource(spec, log.fd, dataFd, log.direct, opts);
  }

  async identity(): Promise<SourceIdentity> {
    const s = this.sup;
    return { uuid: s.uuid, salt: s.salt, pbs: s.pbs, sizeBytes: s.deviceSize * 512, ringBufferSize: s.ringBufferSize };
  }

  async lsids(): Promise<SourceLsids> {
    if (this.kernel) {
      const permanent = walbGetLsid(this.dataFd, 'permanent');
      return { oldest: walbGetLsid(this.dataFd, 'oldest'), permanent, latest: Math.max(permanent, walbGetLsid(this.dataFd, 'completed')) };
    }
    await this.scanAsync();
    return { oldest: this.oldest, permanent: this.end, latest: this.end };
  }

  async isOverflow(): Promise<boolean> {
    if (this.kernel) return walbIsLogOverflow(this.dataFd);
    await this.scanAsync();
    return this.overflow;
  }

  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.opts.pollMs ?? 200);
      this.timer.unref();
    }
    return () => {
      this.watchers.delete(fn);
      if (this.watchers.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  async cut(): Promise<number> {
    if (this.kernel) {
      fs.fdatasyncSync(this.dataFd); // a FLUSH: every completed write becomes permanent
      return walbGetLsid(this.dataFd, 'permanent');
    }
    return (await this.lsids()).permanent;
  }

  readPacks(begin: number, end: number): AsyncGenerator<LogpackData> {
    return this.ring.packs(begin, end);
  }

  lastBoundary(begin: number, limit: number): Promise<number> {
    return this.ring.lastBoundary(begin, limit);
  }

  async setOldestLsid(lsid: number): Promise<void> {
    if (this.kernel) {
      // The driver accepts at most prev_written (what reached the data device).
      walbSetOldestLsid(this.dataFd, Math.min(lsid, walbGetLsid(this.dataFd, 'written')));
      return;
    }
    if (lsid < this.oldest || lsid > this.end) throw new RangeError(`oldest lsid ${lsid} must be between ${this.oldest} and the end of the log ${this.end}`);
    this.oldest = lsid;
  }

  async resetLog(): Promise<SourceIdentity> {
    if (this.kernel) walbClearLog(this.dataFd);
    else {
      const s = this.sup;
      formatLogDevice(this.logFd, this.spec.logPath, { dataSize: s.deviceSize * 512, pbs: s.pbs, name: s.name });
      fs.fdatasyncSync(this.logFd);
    }
    this.loadSuper();
    this.oldest = this.end = 0;
    this.overflow = false;
    return this.identity();
  }

  async readData(offset: number, dest: Uint8Array): Promise<void> {
    await readFull(this.dataFd, dest, offset, this.spec.dataPath);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    fs.closeSync(this.logFd);
    fs.closeSync(this.dataFd);
  }

  /** The oldest lsid the agent keeps (image mode). */
  get oldestLsid(): number {
    return this.oldest;
  }

  private async poll(): Promise<void> {
    try {
      const l = await this.lsids();
      const ov = await this.isOverflow();
      const seen = l.permanent + (ov ? 0.5 : 0);
      if (seen !== this.lastSeen) {
        this.lastSeen = seen;
        for (const w of this.watchers) w();
      }
    } catch {
      // The next poll tries again; the shipper reports read errors itself.
    }
  }

  private loadSuper(): void {
    const block = this.alloc(PAGE_SIZE);
    const n = fs.readSync(this.logFd, block, 0, PAGE_SIZE, SUPER_SECTOR_BYTE_OFFSET);
    this.sup = parseSuperSector(block.subarray(0, n), { file: this.spec.logPath });
    const fd = this.logFd;
    const file = this.spec.logPath;
    this.ring = new LogRing((buf, pos) => readFull(fd, buf, pos, file), {
      layout: logDeviceLayout(this.sup.pbs, this.sup.ringBufferSize, this.sup.metadataSize),
      salt: this.sup.salt,
      file,
      alloc: this.alloc,
    });
  }

  private scanning: Promise<void> | null = null;

  private scanAsync(): Promise<void> {
    this.scanning ??= (async () => {
      try {
        for (;;) {
          const p = await this.ring.pack(this.end);
          if (typeof p === 'string') break;
          this.end += 1 + p.header.totalIoSize;
        }
        this.checkOverflow();
      } finally {
        this.scanning = null;
      }
    })();
    return this.scanning;
  }

  private checkOverflow(): void {
    const ring = this.sup.ringBufferSize;
    if (this.end - this.oldest > ring) this.overflow = true;
    if (this.end === this.oldest) {
      // An empty log: the block at oldest may hold a pack of a later lap (overwritten log).
      const b = Buffer.alloc(this.sup.pbs);
      fs.readSync(this.logFd, b, 0, b.length, lsidToPb(logDeviceLayout(this.sup.pbs, ring, this.sup.metadataSize), this.oldest) * this.sup.pbs);
      const h = decodeLogpackHeader(b, this.sup.pbs, this.sup.salt);
      if (typeof h !== 'string' && h.logpackLsid > this.oldest) this.overflow = true;
    }
  }
}
