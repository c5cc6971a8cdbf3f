/**
 * A blockwal WAL device running in another process (`blockwal device serve`): its control socket
 * for lsids, cut, free, reset and watch events; its log file, read only, for the logpacks; its
 * NBD export for the full backup's reads of the live volume.
 */
import fs from 'node:fs';
import { PAGE_SIZE, SUPER_SECTOR_BYTE_OFFSET, ioError, logDeviceLayout, parseSuperSector } from '@blockwal/core';
import { NbdClient, WalDeviceControl, type DeviceStatus } from '@blockwal/wal-device';
import { readFull, readSync } from './fd-read.js';
import { LogRing } from './log-ring.js';
import { parseNbdUri } from './nbd-uri.js';
import type { LogSource, LogpackData, SourceIdentity, SourceLsids, SourceSpec } from './source.js';

/** NBD reads of the full backup are split into requests of this size (below any export's limit). */
const NBD_READ_BYTES = 256 * 1024;

export class WalDeviceSocketSource implements LogSource {
  private status: DeviceStatus;
  private ring: LogRing;
  private nbd: NbdClient | null = null;
  private readonly watchers = new Set<() => void>();
  private overflow = false;

  private constructor(
    readonly spec: SourceSpec & { kind: 'socket' },
    private readonly control: WalDeviceControl,
    private readonly logFd: number,
    status: DeviceStatus,
  ) {
    this.status = status;
    this.overflow = status.overflow;
    this.ring = this.makeRing();
  }

  static async open(spec: SourceSpec & { kind: 'socket' }): Promise<WalDeviceSocketSource> {
    const control = await WalDeviceControl.connect(spec.controlPath);
    let fd: number;
    try {
      fd = fs.openSync(spec.logPath, 'r');
    } catch (e) {
      control.close();
      throw ioError('open', spec.logPath, e);
    }
    const src = new WalDeviceSocketSource(spec, control, fd, await control.status());
    await control.watch((e) => {
      src.overflow = e.overflow;
      for (const w of src.watchers) w();
    });
    return src;
  }

  get nbdUri(): string {
    return this.spec.nbdUri;
  }

  async identity(): Promise<SourceIdentity> {
    const s = this.status;
    return { uuid: Uint8Array.from(Buffer.from(s.uuid, 'hex')), salt: s.salt, pbs: s.pbs, sizeBytes: s.sizeBytes, ringBufferSize: s.ringBufferSize };
  }

  async lsids(): Promise<SourceLsids> {
    const l = await this.control.lsids();
    return { oldest: l.oldest, permanent: l.permanent, latest: l.latest };
  }

  async isOverflow(): Promise<boolean> {
    this.overflow = (await this.control.status()).overflow;
    return this.overflow;
  }

  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  cut(): Promise<number> {
    return this.control.cut();
  }

  readPacks(begin: number, end: number): AsyncGenerator<LogpackData> {
    return this.ring.packs(begin, end);
  }

  lastBoundary(begin: number, limit: number): Promise<number> {
    return this.ring.lastBoundary(begin, limit);
  }

  async setOldestLsid(lsid: number): Promise<void> {
    await this.control.setOldestLsid(lsid);
  }

  async resetLog(): Promise<SourceIdentity> {
    this.status = await this.control.resetLog();
    this.overflow = false;
    this.ring = this.makeRing();
    return this.identity();
  }

  async readData(offset: number, dest: Uint8Array): Promise<void> {
    const nbd = await this.connectNbd();
    const parts: Promise<void>[] = [];
    for (let at = 0; at < dest.length; at += NBD_READ_BYTES) {
      const n = Math.min(NBD_READ_BYTES, dest.length - at);
      parts.push(nbd.read(offset + at, n).then((b) => dest.set(b, at)));
    }
    try {
      await Promise.all(parts);
    } catch (e) {
      this.nbd?.destroy();
      this.nbd = null;
      throw e;
    }
  }

  async close(): Promise<void> {
    this.control.close();
    if (this.nbd) await this.nbd.close().catch(() => undefined);
    fs.closeSync(this.logFd);
  }

  private async connectNbd(): Promise<NbdClient> {
    if (!this.nbd) {
      const t = parseNbdUri(this.spec.nbdUri);
      this.nbd = await NbdClient.connect(t.where, t.name);
    }
    return this.nbd;
  }

  private makeRing(): LogRing {
    const block = Buffer.alloc(PAGE_SIZE);
    readSync(this.logFd, block, SUPER_SECTOR_BYTE_OFFSET, this.spec.logPath);
    const sup = parseSuperSector(block, { file: this.spec.logPath });
    const s = this.status;
    const fd = this.logFd;
    const file = this.spec.logPath;
    return new LogRing((buf, pos) => readFull(fd, buf, pos, file), { layout: logDeviceLayout(s.pbs, s.ringBufferSize, sup.metadataSize), salt: s.salt, file });
  }
}
