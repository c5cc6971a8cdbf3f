/**
 * The archive: every volume of one archive directory, loaded at start-up (temps deleted, an
 * interrupted full sync rolled forward, garbage diffs dropped), and the rules that are not a
 * single volume's: volume names, where restores may write.
 */
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import { garbageDiffs, ioError, componentLogger, NAME_PATTERN, RejectedError, type Logger } from '@blockwal/core';
import { ArchiveStore, TEMP_SUFFIX } from './store.js';
import type { VolumeRecord } from './state-file.js';
import { Volume } from './volume.js';
import { completeFullSync } from './full-sync-commit.js';
import { WorkerPool } from './worker-pool.js';

export interface ArchiveOptions {
  dir: string;
  restoreDir: string;
  logger: Logger;
  /** Worker threads for restores, merges and verifications (default 1; 0 runs them inline). */
  workerThreads?: number;
}

/** Free space always left on the archive's filesystem: below it, transfers are refused with no-space. */
export const MIN_FREE_BYTES = 32 * 1024 * 1024;

/** Temp names of restores in progress: `.<name>.restore-<hex>.tmp` next to the target. */
export const RESTORE_TEMP = /^\..+\.restore-[0-9a-f]+\.tmp$/;

/** Longest file name of a restore target: its temp name (restore.ts) adds 22 bytes, and a name has at most 255. */
export const MAX_RESTORE_NAME_BYTES = 255 - '..restore-00000000.tmp'.length;

export class Archive {
  readonly store: ArchiveStore;
  readonly restoreDir: string;
  readonly log: Logger;
  /** Runs the long file jobs (restore, merge, verify) off the event loop. */
  readonly workers: WorkerPool;
  private readonly vols = new Map<string, Volume>();
  /** Targets of the restores in progress (a second restore to the same file is refused). */
  private readonly restoring = new Set<string>();
  /** Called when a volume is closed (full-sync sessions record their progress). */
  private readonly closers = new Set<() => void>();

  private constructor(opts: ArchiveOptions) {
    this.store = new ArchiveStore(opts.dir);
    this.restoreDir = path.resolve(opts.restoreDir);
    this.log = componentLogger(opts.logger, 'archive');
    this.workers = new WorkerPool(opts.workerThreads ?? 1, this.log);
  }

  /** Opens (and recovers) an archive directory. Any volume that cannot be loaded stops the start. */
  static open(opts: ArchiveOptions): Archive {
    const a = new Archive(opts);
    a.store.init();
    try {
      mkdirSync(a.restoreDir, { recursive: true });
    } catch (e) {
      throw ioError('mkdir', a.restoreDir, e);
    }
    a.cleanRestoreTemps();
    const { valid, invalid } = a.store.volumeNames();
    for (const name of invalid) a.log.warn({ dir: a.store.volumeDir(name) }, 'ignoring a directory that is not a volume name');
    for (const name of valid) a.load(name);
    return a;
  }

  private load(name: string): void {
    const log = this.log.child({ volume: name });
    const rec = this.store.readRecord(name);
    if (rec === null) {
      log.warn({ dir: this.store.volumeDir(name) }, 'volume directory without state.json: ignored (an unfinished creation)');
      return;
    }
    const temps = this.store.deleteTemps(name);
    if (temps.length > 0) log.info({ files: temps }, 'deleted temporary files');
    const listed = this.store.listDiffs(name);
    for (const f of listed.invalid) log.warn({ file: f }, 'ignoring a diff file whose name does not parse');
    const vol = new Volume(rec, listed.diffs, this.store, log);
    this.vols.set(name, vol);
    if (rec.fullSync?.complete) {
      log.info({}, 'finishing a full sync interrupted after its copy was complete');
      completeFullSync(this.store, vol, log);
    } else if (rec.fullSync === null) {
      this.store.deleteSyncImage(name);
    }
    this.dropGarbage(vol, log);
    this.checkBase(vol.record);
  }

  /** Deletes the diffs that are not on the applicable chain from the base. */
  private dropGarbage(vol: Volume, log: Logger): void {
    const base = vol.base;
    const all = vol.diffs.map((s) => s.diff);
    const garbage = new Set(base === null ? all : garbageDiffs(base, all));
    const names = vol.diffs.filter((s) => garbage.has(s.diff)).map((s) => s.name);
    if (names.length === 0) return;
    this.store.deleteDiffs(vol.name, names);
    vol.dropDiffs(names);
    log.info({ diffs: names }, 'deleted garbage diffs (not on the applicable chain)');
  }

  private checkBase(rec: VolumeRecord): void {
    if (rec.base === null) return;
    const file = this.store.basePath(rec.volume);
    let size: number;
    try {
      size = statSync(file).size;
    } catch (e) {
      throw ioError('load base image', file, e);
    }
    if (size !== rec.sizeBytes) throw ioError('load base image', file, new Error(`size ${size} differs from the recorded ${rec.sizeBytes} bytes`));
  }

  private cleanRestoreTemps(): void {
    for (const name of readdirSync(this.restoreDir)) {
      if (RESTORE_TEMP.test(name) && name.endsWith(TEMP_SUFFIX)) rmSync(path.join(this.restoreDir, name), { force: true });
    }
  }

  /** The volume; bad-argument for a bad name, not-found when unknown. */
  volume(name: string): Volume {
    checkName(name);
    const v = this.vols.get(name);
    if (!v) throw new RejectedError('not-found', `volume ${name} is not archived here`, { volume: name });
    return v;
  }

  find(name: string): Volume | undefined {
    checkName(name);
    return this.vols.get(name);
  }

  volumes(): Volume[] {
    return [...this.vols.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Creates a volume directory and its first record (durable before the volume is known). */
  createVolume(rec: VolumeRecord): Volume {
    checkName(rec.volume);
    if (this.vols.has(rec.volume)) throw new RejectedError('bad-argument', `volume ${rec.volume} already exists`, { volume: rec.volume });
    this.store.createVolumeDir(rec.volume);
    this.store.writeRecord(rec);
    const vol = new Volume(rec, [], this.store, this.log.child({ volume: rec.volume }));
    this.vols.set(rec.volume, vol);
    this.log.info({ volume: rec.volume, state: rec.state }, 'volume created');
    return vol;
  }

  /**
   * Where a restore of `p` may write: `p` resolved against restoreDir, lexically and (through
   * symlinks of its directory) really under restoreDir; its directory must exist and the file
   * must not. bad-argument otherwise.
   */
  restoreTarget(p: string): string {
    const bad = (why: string): never => {
      throw new RejectedError('bad-argument', `restore path ${quoted(p)} ${why}`);
    };
    if (!p || p.includes('\0')) bad('is empty or has a NUL byte');
    const abs = path.resolve(this.restoreDir, p);
    if (!isUnder(this.restoreDir, abs)) bad(`is not under the restore directory ${this.restoreDir}`);
    const nameBytes = Buffer.byteLength(path.basename(abs));
    if (nameBytes > MAX_RESTORE_NAME_BYTES) bad(`has a file name of ${nameBytes} bytes, more than ${MAX_RESTORE_NAME_BYTES} (its temp name must fit in 255)`);
    let realParent = '';
    try {
      realParent = realpathSync(path.dirname(abs));
    } catch {
      bad('is in a directory that does not exist');
    }
    if (!isUnder(realpathSync(this.restoreDir), path.join(realParent, path.basename(abs)))) bad(`leads outside the restore directory ${this.restoreDir} through a symlink`);
    const target = path.join(realParent, path.basename(abs));
    if (existsSync(target) || this.restoring.has(target)) bad(existsSync(target) ? 'already exists; delete it first' : 'is being restored');
    return target;
  }

  /** Holds a restore target (checked by restoreTarget) until the returned release is called. */
  reserveRestoreTarget(target: string): () => void {
    if (this.restoring.has(target)) throw new RejectedError('bad-argument', `restore path '${target}' is being restored`);
    this.restoring.add(target);
    return () => this.restoring.delete(target);
  }

  /** RejectedError no-space when the filesystem of the archive has less than MIN_FREE_BYTES free. */
  checkSpace(volume: string): void {
    let free: number;
    try {
      const st = statfsSync(this.store.volumesDir);
      free = Number(st.bavail) * Number(st.bsize);
    } catch (e) {
      throw ioError('statfs', this.store.volumesDir, e);
    }
    if (free < MIN_FREE_BYTES) {
      throw new RejectedError('no-space', `the archive's filesystem has ${free} bytes free, less than the ${MIN_FREE_BYTES} it keeps`, { volume });
    }
  }

  /** Registers a hook run at close (a full-sync session recording its progress). */
  onClose(f: () => void): () => void {
    this.closers.add(f);
    return () => this.closers.delete(f);
  }

  /** Runs the close hooks, then stops the worker threads (their running jobs fail with 'stopped'). */
  async close(): Promise<void> {
    for (const f of [...this.closers]) {
      try {
        f();
      } catch (e) {
        this.log.error({ err: e }, 'close hook failed');
      }
    }
    this.closers.clear();
    await this.workers.close();
  }
}

export function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new RejectedError('bad-argument', `volume name ${quoted(String(name))} must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}`);
  }
}

/**
 * A value from a request, quoted for a message: at most 80 characters (and its length when longer),
 * so that a huge value does not make a gRPC status too large for its trailer.
 */
function quoted(s: string): string {
  return s.length > 80 ? `${JSON.stringify(s.slice(0, 80))}… (${s.length} characters)` : JSON.stringify(s);
}

function isUnder(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}
