/**
 * The archive's disk layout. Only this file knows paths and how metadata becomes durable.
 *
 * ```
 * <dir>/volumes/<vol>/state.json        the volume record (state-file.ts)
 * <dir>/volumes/<vol>/base.img          the base image (sparse), described by record.base
 * <dir>/volumes/<vol>/base.img.sync     a full sync's copy in progress, kept across restarts
 * <dir>/volumes/<vol>/diffs/<name>      sorted wdiffs under their WalB names: the rename into
 *                                       diffs/ registers a diff
 * *.tmp                                 temporaries (state, received diffs): deleted at start-up
 * ```
 * Every metadata change: write a temp file, fsync it, rename it over, fsync the directory.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync, constants as C } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ioError, syncDir, parseWdiffName, writeFileAtomic, WDIFF_EXTENSION, NAME_PATTERN, type MetaDiff } from '@blockwal/core';
import { formatVolumeRecord, parseVolumeRecord, type VolumeRecord } from './state-file.js';

export const TEMP_SUFFIX = '.tmp';

/** A diff registered in a volume's diffs/ directory. */
export interface StoredDiff {
  readonly name: string;
  /** Parsed from the name; dataSize is the file size. */
  readonly diff: MetaDiff;
}

export class ArchiveStore {
  readonly volumesDir: string;

  constructor(readonly dir: string) {
    this.volumesDir = path.join(dir, 'volumes');
  }

  /** Creates `<dir>/volumes` if needed. */
  init(): void {
    this.io('mkdir', this.volumesDir, () => mkdirSync(this.volumesDir, { recursive: true }));
  }

  volumeDir(vol: string): string {
    return path.join(this.volumesDir, vol);
  }
  statePath(vol: string): string {
    return path.join(this.volumeDir(vol), 'state.json');
  }
  basePath(vol: string): string {
    return path.join(this.volumeDir(vol), 'base.img');
  }
  syncImagePath(vol: string): string {
    return path.join(this.volumeDir(vol), 'base.img.sync');
  }
  diffsDir(vol: string): string {
    return path.join(this.volumeDir(vol), 'diffs');
  }
  diffPath(vol: string, name: string): string {
    return path.join(this.diffsDir(vol), name);
  }

  /** Directory names under volumes/ that are valid volume names. */
  volumeNames(): { valid: string[]; invalid: string[] } {
    const names = this.io('readdir', this.volumesDir, () => readdirSync(this.volumesDir, { withFileTypes: true }));
    const dirs = names.filter((d) => d.isDirectory()).map((d) => d.name);
    return { valid: dirs.filter((n) => NAME_PATTERN.test(n)).sort(), invalid: dirs.filter((n) => !NAME_PATTERN.test(n)) };
  }

  /** The volume record, or null when the volume directory has no state file (an unfinished creation). */
  readRecord(vol: string): VolumeRecord | null {
    const file = this.statePath(vol);
    if (!existsSync(file)) return null;
    const rec = parseVolumeRecord(this.io('read', file, () => readFileSync(file, 'utf8')), file);
    if (rec.volume !== vol) throw ioError('load', file, new Error(`the record names volume '${rec.volume}'`));
    return rec;
  }

  /** Writes the record atomically (temp, fsync, rename, fsync dir). */
  writeRecord(rec: VolumeRecord): void {
    writeFileAtomic(this.statePath(rec.volume), formatVolumeRecord(rec));
  }

  /** Creates the volume directory and its diffs/ (durably: parents fsynced). */
  createVolumeDir(vol: string): void {
    const dir = this.volumeDir(vol);
    this.io('mkdir', dir, () => mkdirSync(this.diffsDir(vol), { recursive: true }));
    this.io('fsync', dir, () => {
      syncDir(dir);
      syncDir(this.volumesDir);
    });
  }

  /** Deletes the temporaries (`*.tmp`) of a volume; returns their names. */
  deleteTemps(vol: string): string[] {
    const gone: string[] = [];
    for (const dir of [this.volumeDir(vol), this.diffsDir(vol)]) {
      if (!existsSync(dir)) continue;
      for (const name of this.io('readdir', dir, () => readdirSync(dir))) {
        if (!name.endsWith(TEMP_SUFFIX)) continue;
        this.io('unlink', path.join(dir, name), () => unlinkSync(path.join(dir, name)));
        gone.push(name);
      }
    }
    return gone;
  }

  /** The registered diffs (names ending in .wdiff), with the names that do not parse. */
  listDiffs(vol: string): { diffs: StoredDiff[]; invalid: string[] } {
    const dir = this.diffsDir(vol);
    if (!existsSync(dir)) this.createVolumeDir(vol);
    const diffs: StoredDiff[] = [];
    const invalid: string[] = [];
    for (const name of this.io('readdir', dir, () => readdirSync(dir)).sort()) {
      if (!name.endsWith(WDIFF_EXTENSION)) continue;
      let d: MetaDiff;
      try {
        d = parseWdiffName(name);
      } catch {
        invalid.push(name);
        continue;
      }
      const size = this.io('stat', path.join(dir, name), () => statSync(path.join(dir, name)).size);
      diffs.push({ name, diff: { ...d, dataSize: size } });
    }
    return { diffs, invalid };
  }

  /** A fresh temp name in diffs/ for a diff being received. */
  diffTempPath(vol: string, name: string): string {
    return path.join(this.diffsDir(vol), `.${name}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  }

  /** Registers a received (fsynced) diff: rename into diffs/ under its name, fsync diffs/. */
  registerDiff(vol: string, tmp: string, name: string): void {
    const dst = this.diffPath(vol, name);
    this.io('rename', dst, () => renameSync(tmp, dst));
    this.io('fsync', this.diffsDir(vol), () => syncDir(this.diffsDir(vol)));
  }

  /** Deletes diffs by name, then fsyncs diffs/. */
  deleteDiffs(vol: string, names: readonly string[]): void {
    if (names.length === 0) return;
    for (const name of names) this.io('unlink', this.diffPath(vol, name), () => rmSync(this.diffPath(vol, name), { force: true }));
    this.io('fsync', this.diffsDir(vol), () => syncDir(this.diffsDir(vol)));
  }

  /** Every file name in diffs/ ending in .wdiff (registered or not parseable). */
  allDiffNames(vol: string): string[] {
    const dir = this.diffsDir(vol);
    if (!existsSync(dir)) return [];
    return this.io('readdir', dir, () => readdirSync(dir)).filter((n) => n.endsWith(WDIFF_EXTENSION));
  }

  /** Makes the full sync's copy the base image: rename base.img.sync over base.img, fsync the dir. */
  promoteSyncImage(vol: string): void {
    const src = this.syncImagePath(vol);
    if (!existsSync(src)) return; // already renamed before a crash
    this.io('rename', this.basePath(vol), () => renameSync(src, this.basePath(vol)));
    this.io('fsync', this.volumeDir(vol), () => syncDir(this.volumeDir(vol)));
  }

  deleteSyncImage(vol: string): void {
    rmSync(this.syncImagePath(vol), { force: true });
  }

  private io<T>(op: string, file: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw ioError(op, file, e);
    }
  }
}

