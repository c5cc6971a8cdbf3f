/**
 * Receiving a full sync (full backup): a copy of the live volume written into base.img.sync,
 * resumable, then made the base image (full-sync-commit.ts).
 *
 * - open: an unknown volume is created in state `full-sync`; an archived one goes to `full-sync`
 *   (its old base and diffs stay readable until the copy is done). A previous copy of the same
 *   device uuid, size and gidB resumes at its recorded `doneBytes`; anything else starts at 0.
 * - write: contiguous, 512-byte aligned pieces; an elided (all-zero) piece is zeroed (a hole).
 *   Every `CHECKPOINT_BYTES` the image is fdatasynced, then `doneBytes` recorded.
 * - drop (connection lost, error, server stop): fdatasync and record `doneBytes` for a resume.
 * - finish: every byte received; fdatasync; record `complete` (the commit point); complete.
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, statSync, constants as C } from 'node:fs';
import { ImageTarget, LOGICAL_BLOCK_SIZE, RejectedError, formatMetaSnap, ioError, uuidToHex, type Logger, type MetaSnap } from '@blockwal/core';
import type { Archive } from './archive.js';
import { checkName } from './archive.js';
import { completeFullSync } from './full-sync-commit.js';
import type { FullSyncProgress } from './state-file.js';
import { sameUuid, type Volume } from './volume.js';

/** Progress is made durable at least this often (bytes of the copy). */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024;

export interface FullSyncOffer {
  readonly volume: string;
  readonly deviceUuid: Uint8Array;
  readonly sizeBytes: number;
  readonly gidB: number;
  readonly chunkBytes: number;
}

export class FullSyncSession {
  /** Where the sender must (re)start. */
  readonly resumeOffset: number;
  private offset: number;
  private sinceCheckpoint = 0;
  private closed = false;
  private readonly fd: number;
  private readonly image: ImageTarget;
  private readonly unhook: () => void;

  private constructor(
    private readonly archive: Archive,
    private readonly vol: Volume,
    private readonly log: Logger,
    resume: number,
  ) {
    this.resumeOffset = resume;
    this.offset = resume;
    const file = archive.store.syncImagePath(vol.name);
    const size = this.progress.sizeBytes;
    try {
      this.fd = openSync(file, C.O_RDWR | C.O_CREAT, 0o644);
      if (resume === 0) ftruncateSync(this.fd, 0);
      if (fstatSync(this.fd).size !== size) ftruncateSync(this.fd, size);
    } catch (e) {
      vol.endTransfer('full-sync');
      throw ioError('open', file, e);
    }
    this.image = new ImageTarget(this.fd, file);
    this.unhook = archive.onClose(() => this.drop());
  }

  /** Starts or resumes a copy; RejectedError busy/bad-argument. */
  static open(archive: Archive, offer: FullSyncOffer, log: Logger): FullSyncSession {
    checkName(offer.volume);
    const { sizeBytes, gidB } = offer;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % LOGICAL_BLOCK_SIZE !== 0) {
      throw new RejectedError('bad-argument', `volume size must be a positive multiple of ${LOGICAL_BLOCK_SIZE} bytes, got ${sizeBytes}`, { volume: offer.volume });
    }
    if (!Number.isSafeInteger(gidB) || gidB < 0) throw new RejectedError('bad-argument', `gid_b must be a gid, got ${gidB}`, { volume: offer.volume });
    const fresh: FullSyncProgress = { deviceUuid: offer.deviceUuid, sizeBytes, gidB, chunkBytes: offer.chunkBytes, doneBytes: 0, complete: null };
    let vol = archive.find(offer.volume);
    if (vol === undefined) {
      vol = archive.createVolume({ volume: offer.volume, state: 'full-sync', sizeBytes: null, deviceUuid: null, archiveUuid: null, base: null, fullSync: fresh });
    }
    vol.beginTransfer('full-sync');
    try {
      archive.checkSpace(vol.name);
      const p = vol.record.fullSync;
      const image = archive.store.syncImagePath(vol.name);
      const imageKept = existsSync(image) && statSync(image).size === sizeBytes;
      const resumable = p !== null && p.complete === null && sameUuid(p.deviceUuid, offer.deviceUuid) && p.sizeBytes === sizeBytes && p.gidB === gidB && (p.doneBytes === 0 || imageKept);
      if (resumable) {
        if (p.chunkBytes !== offer.chunkBytes) vol.update({ fullSync: { ...p, chunkBytes: offer.chunkBytes } });
      } else if (vol.state === 'archived') {
        vol.transition(['archived'], 'full-sync', { fullSync: fresh });
      } else {
        vol.update({ fullSync: fresh });
      }
      const resume = resumable ? p.doneBytes : 0;
      log.info({ volume: vol.name, deviceUuid: uuidToHex(offer.deviceUuid), sizeBytes, gidB, resume }, resume > 0 ? 'full sync resumed' : 'full sync started');
      return new FullSyncSession(archive, vol, log, resume);
    } catch (e) {
      vol.endTransfer('full-sync');
      throw e;
    }
  }

  private get progress(): FullSyncProgress {
    return this.vol.record.fullSync!;
  }

  get volume(): Volume {
    return this.vol;
  }

  /** Bytes of the copy received so far (from 0). */
  get receivedBytes(): number {
    return this.offset;
  }

  /** Writes the next piece: `data`, or `length` zero bytes when data is empty. */
  write(offset: number, data: Uint8Array, length: number): void {
    this.checkOpen();
    const where = { volume: this.vol.name, offset };
    if (offset !== this.offset) throw new RejectedError('bad-argument', `full sync data at offset ${offset}, expected ${this.offset}`, where);
    if (data.length > 0 && length !== 0 && length !== data.length) throw new RejectedError('bad-argument', `full sync data of ${data.length} bytes says length ${length}`, where);
    const n = data.length > 0 ? data.length : length;
    if (n <= 0 || n % LOGICAL_BLOCK_SIZE !== 0) throw new RejectedError('bad-argument', `full sync data must be a positive multiple of ${LOGICAL_BLOCK_SIZE} bytes, got ${n}`, where);
    if (offset + n > this.progress.sizeBytes) throw new RejectedError('bad-argument', `full sync data of ${n} bytes goes past the volume size ${this.progress.sizeBytes}`, where);
    if (data.length > 0) this.image.write(data, offset);
    else this.image.zeroBlocks(offset / LOGICAL_BLOCK_SIZE, n / LOGICAL_BLOCK_SIZE);
    this.offset += n;
    this.sinceCheckpoint += n;
    if (this.sinceCheckpoint >= CHECKPOINT_BYTES) this.checkpoint();
  }

  /** The copy is the dirty snapshot `snapshot` (|gidB, gidE|): make it the base. */
  finish(snapshot: MetaSnap, timestamp: number): void {
    this.checkOpen();
    const p = this.progress;
    const where = { volume: this.vol.name };
    if (this.offset !== p.sizeBytes) throw new RejectedError('bad-argument', `full sync done after ${this.offset} of ${p.sizeBytes} bytes`, where);
    if (snapshot.gidB !== p.gidB) throw new RejectedError('bad-argument', `full sync done with snapshot ${formatMetaSnap(snapshot)}, but the copy started at gid ${p.gidB}`, where);
    this.image.sync();
    this.close();
    this.vol.update({ fullSync: { ...p, doneBytes: p.sizeBytes, complete: { snapshot, timestamp } } });
    completeFullSync(this.archive.store, this.vol, this.log);
  }

  /** Stops receiving: makes what was received durable and records it for a resume. Idempotent. */
  drop(): void {
    if (this.closed) return;
    try {
      this.checkpoint();
      this.log.info({ volume: this.vol.name, doneBytes: this.offset, sizeBytes: this.progress.sizeBytes }, 'full sync interrupted; progress recorded');
    } catch (e) {
      this.log.error({ volume: this.vol.name, err: e }, 'full sync interrupted; recording progress failed');
    } finally {
      this.close();
    }
  }

  private checkpoint(): void {
    this.image.sync();
    if (this.offset !== this.progress.doneBytes) this.vol.update({ fullSync: { ...this.progress, doneBytes: this.offset } });
    this.sinceCheckpoint = 0;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unhook();
    try {
      closeSync(this.fd);
    } finally {
      this.vol.endTransfer('full-sync');
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new RejectedError('stopped', `the full sync of volume ${this.vol.name} was stopped`, { volume: this.vol.name });
  }
}
