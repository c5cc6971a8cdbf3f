/**
 * Full backup of one volume (docs/pipeline.md §2 FullSync, walb-tools-architecture §3.2):
 *  1. stop shipping; reset the log (new device uuid; not needed for a brand-new volume whose log
 *     holds every write since it was created); persist done = (0, 0), an empty queue and the
 *     uuid;
 *  2. FullSync: once the archive answered the header (it then knows the new uuid) start shipping
 *     again (the proxies keep the diffs while the archive answers syncing); send the live volume from the archive's resume offset, all-zero chunks elided,
 *     at most fullSyncBytesPerSec; a dropped connection is retried with backoff and resumes
 *     where the archive says;
 *  3. take a snapshot gid_e (normal allocation, persisted before it is sent, so that a restart
 *     sends the same one), send done |0, gid_e|, wait for the archive's durable answer;
 *  4. full-sync -> target.
 * After a restart in state full-sync the task resumes at step 1 (reset not yet recorded) or 2.
 */
import { RejectedError, readBuffer, uuidToHex, type Logger } from '@blockwal/core';
import { isAllZero } from '@blockwal/native-io';
import { Sleeper, nextBackoff } from './backoff.js';
import type { StorageMetrics } from './metrics.js';
import type { ArchiveLink } from './peers.js';
import type { Shipper } from './ship.js';
import { nowSec, type Volume } from './volume.js';

export interface FullBackupSettings {
  chunkBytes: number;
  bytesPerSec: number;
  retryMinMs: number;
  retryMaxMs: number;
}

class Cancelled extends Error {}

export class FullBackupTask {
  private cancelled = false;
  private readonly abort = new AbortController();
  private readonly sleeper = new Sleeper();
  readonly done: Promise<void>;

  constructor(
    private readonly vol: Volume,
    private readonly shipper: Shipper,
    private readonly archive: ArchiveLink,
    private readonly metrics: StorageMetrics,
    private readonly s: FullBackupSettings,
    private readonly log: Logger,
    /** A volume just created by AddVolume: its log holds every write since creation (no reset needed). */
    private readonly brandNew = false,
  ) {
    this.done = this.run().catch((e) => {
      if (e instanceof Cancelled) return;
      this.log.error({ err: (e as Error).message }, 'full backup failed');
      this.vol.setError(`full backup: ${(e as Error).message}`);
    });
  }

  /** Stops the task at the next chunk (the archive keeps its progress; a restart resumes). */
  async cancel(): Promise<void> {
    this.cancelled = true;
    this.abort.abort();
    this.sleeper.wake();
    await this.done;
  }

  private check(): void {
    if (this.cancelled) throw new Cancelled();
    if (this.vol.state !== 'full-sync') throw new Cancelled(); // overflow, or stopped meanwhile
  }

  private async run(): Promise<void> {
    const vol = this.vol;
    if (vol.state !== 'full-sync') vol.transition(['sync-ready', 'target', 'stopped', 'overflow'], 'full-sync', { fullSync: { uuid: null, gidE: null } });
    vol.fullSyncBytes = 0;
    if (!vol.rec.fullSync?.uuid) await this.resetLog();
    this.log.info({ uuid: vol.rec.deviceUuid }, 'full backup copying');
    for (let attempt = 1; ; attempt++) {
      this.check();
      try {
        await this.copy();
        break;
      } catch (e) {
        if (e instanceof Cancelled) throw e;
        this.check();
        const message = e instanceof Error ? e.message : String(e);
        vol.setError(`full backup: ${message}`);
        this.log.warn({ err: message, attempt }, 'full backup interrupted');
        await this.sleeper.sleep(nextBackoff(attempt, this.s.retryMinMs, this.s.retryMaxMs));
      }
    }
    this.check();
    vol.transition(['full-sync'], 'target', { fullSync: null, lastError: '' });
    this.log.info({ bytes: vol.fullSyncBytes }, 'full backup done');
  }

  /** Step 1. */
  private async resetLog(): Promise<void> {
    const vol = this.vol;
    await this.shipper.stop();
    const l = await vol.source.lsids();
    const r = vol.rec;
    const fresh = this.brandNew && r.done.lsid === 0 && r.done.gid === 0 && r.queue.length === 0 && l.oldest === 0 && r.deviceUuid === vol.uuidHex() && !(await vol.source.isOverflow());
    if (!fresh) vol.identity = await vol.source.resetLog();
    const uuid = uuidToHex(vol.identity.uuid);
    vol.update((x) => ({ ...x, deviceUuid: uuid, done: { lsid: 0, gid: 0, mergeable: false, timestamp: nowSec() }, queue: [], fullSync: { uuid, gidE: null }, lastError: '' }));
    this.log.info({ uuid, reset: !fresh }, 'full backup log reset');
  }

  /** Steps 2 and 3 over one connection. */
  private async copy(): Promise<void> {
    const vol = this.vol;
    const size = vol.identity.sizeBytes;
    const chunk = this.s.chunkBytes;
    const session = await this.archive.openFullSync({ volume: vol.name, uuid: vol.identity.uuid, sizeBytes: size, gidB: 0, chunkSize: chunk }, this.abort.signal);
    // The archive now knows the new uuid (it answers `syncing`, not `different-uuid`, to its
    // diffs): the log may be shipped (docs/pipeline.md, FullSync step 1).
    this.shipper.start();
    try {
      let offset = session.resumeOffset;
      if (offset % chunk !== 0 && offset !== size) throw new RejectedError('bad-argument', `archive resume offset ${offset} is not a multiple of the chunk size ${chunk}`);
      vol.fullSyncBytes = offset;
      // Data read now is newer than an end snapshot taken before: that one no longer bounds the copy.
      if (offset < size && vol.rec.fullSync?.gidE != null) vol.update((x) => ({ ...x, fullSync: { uuid: x.fullSync?.uuid ?? null, gidE: null } }));
      const started = Date.now();
      let read = 0;
      while (offset < size) {
        this.check();
        const n = Math.min(chunk, size - offset);
        const buf = readBuffer(n);
        await vol.source.readData(offset, buf);
        await session.send(offset, isAllZero(buf) ? null : buf, n);
        offset += n;
        read += n;
        vol.fullSyncBytes = offset;
        this.metrics.fullSync(vol.name, n);
        if (this.s.bytesPerSec > 0) {
          const ahead = (read / this.s.bytesPerSec) * 1000 - (Date.now() - started);
          if (ahead > 0) await this.sleeper.sleep(ahead);
        }
      }
      this.check();
      const gidE = vol.rec.fullSync?.gidE ?? (await this.endSnapshot());
      await session.finish(0, gidE, nowSec());
    } catch (e) {
      session.cancel();
      throw e;
    }
  }

  /** Step 3: the end snapshot of the copy, persisted before it is sent. */
  private async endSnapshot(): Promise<number> {
    const rec = await this.vol.snapshot({ explicit: true, states: ['full-sync'] });
    this.vol.update((x) => ({ ...x, fullSync: { uuid: x.fullSync?.uuid ?? null, gidE: rec.gid } }));
    this.shipper.kick();
    return rec.gid;
  }
}
