/**
 * Receiving one diff of a volume, after the verdict said OK: bytes go to a temp file in diffs/;
 * at the end the file is fsynced, verified (wdiff-verify.ts, in a worker thread), renamed into diffs/ under its WalB
 * name (which registers it) and diffs/ fsynced; only then is the diff in the volume's chain and
 * the sender may be told it is stored. Any failure deletes the temp file: nothing stored changes.
 * The volume is held (`busy` to others) from the verdict to the end.
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync, constants as C } from 'node:fs';
import { formatMetaDiff, formatWdiffName, ioError, RejectedError, type Logger } from '@blockwal/core';
import type { Archive } from './archive.js';
import type { StoredDiff } from './store.js';
import type { DiffOffer, Volume } from './volume.js';

export class DiffReceiver {
  readonly name: string;
  private readonly tmp: string;
  private readonly fd: number;
  private offset = 0;
  private done = false;
  private readonly unhook: () => void;

  /** Takes the volume for this diff (the caller checked the verdict) and opens the temp file. */
  constructor(
    private readonly archive: Archive,
    private readonly vol: Volume,
    private readonly offer: DiffOffer,
    private readonly log: Logger,
  ) {
    this.name = formatWdiffName(offer.diff);
    vol.beginTransfer('diff');
    this.tmp = archive.store.diffTempPath(vol.name, this.name);
    try {
      this.fd = openSync(this.tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
    } catch (e) {
      vol.endTransfer('diff');
      throw ioError('create', this.tmp, e);
    }
    this.unhook = archive.onClose(() => this.abort());
  }

  get what(): string {
    return `volume ${this.vol.name} diff ${formatMetaDiff(this.offer.diff)}`;
  }

  get bytes(): number {
    return this.offset;
  }

  /** Appends received (CRC-checked) bytes. */
  write(data: Uint8Array): void {
    this.checkOpen();
    try {
      for (let off = 0; off < data.length; ) off += writeSync(this.fd, data, off, data.length - off, this.offset + off);
    } catch (e) {
      throw ioError('write', this.tmp, e);
    }
    this.offset += data.length;
  }

  /** The stream ended intact: fsync, verify, register. Returns the registered diff. */
  async commit(): Promise<StoredDiff> {
    this.checkOpen();
    try {
      try {
        fsyncSync(this.fd);
      } catch (e) {
        throw ioError('fsync', this.tmp, e);
      }
      const facts = await this.archive.workers.run(
        { kind: 'verify', file: this.tmp, what: this.what, deviceUuid: Uint8Array.from(this.offer.deviceUuid), sizeBytes: this.offer.sizeBytes },
        { urgent: true },
      );
      this.checkOpen();
      const stored: StoredDiff = { name: this.name, diff: { ...this.offer.diff, dataSize: this.offset } };
      this.archive.store.registerDiff(this.vol.name, this.tmp, this.name);
      this.vol.addDiff(stored);
      this.finish(false);
      this.log.info({ volume: this.vol.name, diff: formatMetaDiff(this.offer.diff), name: this.name, bytes: this.offset, records: facts.records }, 'diff stored');
      return stored;
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Gives up: deletes the temp file and releases the volume. Idempotent. */
  abort(): void {
    this.finish(true);
  }

  private finish(deleteTemp: boolean): void {
    if (this.done) return;
    this.done = true;
    this.unhook();
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    if (deleteTemp) rmSync(this.tmp, { force: true });
    this.vol.endTransfer('diff');
  }

  private checkOpen(): void {
    if (this.done) throw new RejectedError('stopped', `${this.what}: the receive was stopped`, { volume: this.vol.name });
  }
}
