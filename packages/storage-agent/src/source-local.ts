/** A blockwal WAL device running in this process (the agent creates and serves it for AddVolume). */
import { logDeviceLayout } from '@blockwal/core';
import type { WalDevice } from '@blockwal/wal-device';
import { LogRing } from './log-ring.js';
import type { LogSource, LogpackData, SourceIdentity, SourceLsids, SourceSpec } from './source.js';

export class LocalWalDeviceSource implements LogSource {
  private ringCache: { uuid: Uint8Array; ring: LogRing } | null = null;

  constructor(
    readonly device: WalDevice,
    readonly spec: SourceSpec & { kind: 'local' },
    readonly nbdUri: string | undefined,
  ) {}

  async identity(): Promise<SourceIdentity> {
    const s = this.device.superSector;
    return { uuid: s.uuid, salt: s.salt, pbs: s.pbs, sizeBytes: this.device.size, ringBufferSize: s.ringBufferSize };
  }

  async lsids(): Promise<SourceLsids> {
    const l = this.device.lsids();
    return { oldest: l.oldest, permanent: l.permanent, latest: l.latest };
  }

  async isOverflow(): Promise<boolean> {
    return this.device.isOverflow;
  }

  watch(fn: () => void): () => void {
    return this.device.onLsids(() => fn());
  }

  cut(): Promise<number> {
    return this.device.cut();
  }

  readPacks(begin: number, end: number): AsyncGenerator<LogpackData> {
    return this.ring().packs(begin, end);
  }

  lastBoundary(begin: number, limit: number): Promise<number> {
    return this.ring().lastBoundary(begin, limit);
  }

  setOldestLsid(lsid: number): Promise<void> {
    return this.device.setOldestLsid(lsid);
  }

  async resetLog(): Promise<SourceIdentity> {
    await this.device.resetLog();
    this.ringCache = null;
    return this.identity();
  }

  readData(offset: number, dest: Uint8Array): Promise<void> {
    return this.device.readInto(offset, dest);
  }

  close(): Promise<void> {
    return this.device.close();
  }

  /** The ring reader of the current log lineage (the salt and ring size change on a reset). */
  private ring(): LogRing {
    const s = this.device.superSector;
    if (this.ringCache?.uuid !== s.uuid) {
      const log = this.device.log;
      this.ringCache = {
        uuid: s.uuid,
        ring: new LogRing((buf, pos) => log.read(buf, pos), { layout: logDeviceLayout(s.pbs, s.ringBufferSize, s.metadataSize), salt: s.salt, file: log.name }),
      };
    }
    return this.ringCache.ring;
  }
}
