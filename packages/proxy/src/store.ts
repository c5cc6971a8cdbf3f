/**
 * The proxy's disk layout and its in-memory index (see DESIGN.md "Disk layout"):
 *
 * ```
 * <dir>/tmp/                                   incoming wlogs being converted, forward merges (deleted at start)
 * <dir>/volumes/<volume>.json                  per-volume metadata: { volumeSize } (temp, fsync, rename, fsync dir)
 * <dir>/spool/<archive>/<volume>/<uuid-hex>/<wdiff name>
 * ```
 * A received wdiff is one file hard-linked into the spool of every archive; a diff is registered
 * by its link (the name carries its metadata) and leaves an archive's spool only when that
 * archive stored it or answered too-old / different-uuid. The index is rebuilt from the directory
 * listing at start-up, so the spool survives any crash as it was on disk.
 *
 * All calls are synchronous: each one changes the disk and the index in the same tick.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync, existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { NAME_PATTERN, WDIFF_EXTENSION, formatWdiffName, ioError, parseWdiffName, syncDir, writeFileAtomic, type Logger, type MetaDiff } from '@blockwal/core';

/** One diff in one archive's spool (a hard link). */
export interface SpoolDiff {
  readonly archive: string;
  readonly volume: string;
  /** Device uuid, 32 hex digits (the lineage). */
  readonly uuid: string;
  readonly name: string;
  /** The diff of the name, with dataSize = the file's size. */
  readonly diff: MetaDiff;
  readonly file: string;
  readonly bytes: number;
  /** The inode: links of one received file share it (counted once in the spool total). */
  readonly ino: number;
  /** When the file was written (ms), which orders lineages and drives sendDelayMs. */
  readonly receivedMs: number;
}

const UUID_HEX = /^[0-9a-f]{32}$/;

export class SpoolStore {
  readonly tmpDir: string;
  private readonly spoolDir: string;
  private readonly metaDir: string;
  /** archive → volume → diffs (every lineage). */
  private readonly index = new Map<string, Map<string, SpoolDiff[]>>();
  /** inode → [bytes, links]: the disk space of the spool counts each file once. */
  private readonly inodes = new Map<number, [number, number]>();
  private uniqueBytes = 0;
  private readonly sizes = new Map<string, number>();

  private constructor(
    readonly dir: string,
    /** The configured archives: new diffs are linked into their spools only. */
    private readonly targets: readonly string[],
    private readonly log: Logger,
  ) {
    this.tmpDir = path.join(dir, 'tmp');
    this.spoolDir = path.join(dir, 'spool');
    this.metaDir = path.join(dir, 'volumes');
  }

  /**
   * Opens (creating) the store: deletes temp files, rebuilds the index from the spool
   * directories. `archives` get their spool directory even when empty.
   */
  static open(dir: string, archives: readonly string[], log: Logger): SpoolStore {
    const s = new SpoolStore(dir, archives, log);
    ensureDir(dir);
    rmSync(s.tmpDir, { recursive: true, force: true });
    for (const d of [s.tmpDir, s.spoolDir, s.metaDir]) ensureDir(d);
    for (const a of archives) {
      ensureDir(path.join(s.spoolDir, a));
      s.index.set(a, new Map());
    }
    s.loadVolumeMeta();
    s.loadSpool();
    return s;
  }

  /** A fresh temp file name under tmp/ (not created). */
  tmpFile(what: string): string {
    return path.join(this.tmpDir, `${what}.${randomBytes(6).toString('hex')}.tmp`);
  }

  /** Spool disk usage in bytes (each received file once, however many spools link it). */
  get totalBytes(): number {
    return this.uniqueBytes;
  }

  /** Every archive with a spool directory (configured ones, and leftovers of removed ones). */
  archives(): string[] {
    return [...this.index.keys()].sort();
  }

  volumes(): string[] {
    const v = new Set<string>();
    for (const m of this.index.values()) for (const [vol, diffs] of m) if (diffs.length > 0) v.add(vol);
    for (const vol of this.sizes.keys()) v.add(vol);
    return [...v].sort();
  }

  /** The diffs of a volume waiting for an archive (every lineage; a copy). */
  spool(archive: string, volume: string): SpoolDiff[] {
    return [...(this.index.get(archive)?.get(volume) ?? [])];
  }

  volumeSize(volume: string): number | undefined {
    return this.sizes.get(volume);
  }

  /** Records a volume's size (the largest announced: volumes only grow), durably. */
  saveVolumeSize(volume: string, size: number): void {
    const old = this.sizes.get(volume);
    if (old !== undefined && old >= size) return;
    writeFileAtomic(path.join(this.metaDir, `${volume}.json`), `${JSON.stringify({ volumeSize: size })}\n`);
    this.sizes.set(volume, size);
  }

  /**
   * Registers a complete, fsynced wdiff: hard-links `tmp` into the spool of every archive (a
   * spool that already holds the name keeps its file: same lineage and gids, same diff), fsyncs
   * the spool directories, then removes the temp name. Returns the wdiff name.
   */
  commit(tmp: string, volume: string, uuid: string, diff: MetaDiff): string {
    const name = formatWdiffName(diff);
    const dirs: string[] = [];
    for (const archive of this.targets) {
      const dir = path.join(this.spoolDir, archive, volume, uuid);
      ensureDir(dir);
      const file = path.join(dir, name);
      if (this.find(archive, volume, uuid, name)) continue;
      try {
        linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('link into the spool', file, e);
        // On disk but not indexed cannot happen (the index mirrors the disk); re-read it.
      }
      dirs.push(dir);
      this.add(this.entryOf(archive, volume, uuid, name, file));
    }
    for (const d of dirs) syncDir(d);
    try {
      unlinkSync(tmp);
    } catch (e) {
      throw ioError('remove the temp name', tmp, e);
    }
    return name;
  }

  /** Removes diffs from their archives' spools (unlink, fsync the directories). */
  remove(diffs: readonly SpoolDiff[]): void {
    const dirs = new Set<string>();
    for (const d of diffs) {
      const list = this.index.get(d.archive)?.get(d.volume);
      const i = list?.indexOf(d) ?? -1;
      if (i < 0) continue; // already removed
      try {
        unlinkSync(d.file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('remove from the spool', d.file, e);
      }
      list!.splice(i, 1);
      this.unref(d);
      dirs.add(path.dirname(d.file));
    }
    for (const dir of dirs) syncDir(dir);
  }

  private find(archive: string, volume: string, uuid: string, name: string): SpoolDiff | undefined {
    return this.index.get(archive)?.get(volume)?.find((d) => d.uuid === uuid && d.name === name);
  }

  private entryOf(archive: string, volume: string, uuid: string, name: string, file: string): SpoolDiff {
    const st = statSync(file);
    const diff = { ...parseWdiffName(name), dataSize: st.size };
    return { archive, volume, uuid, name, diff, file, bytes: st.size, ino: st.ino, receivedMs: st.mtimeMs };
  }

  private add(d: SpoolDiff): void {
    let vols = this.index.get(d.archive);
    if (!vols) this.index.set(d.archive, (vols = new Map()));
    let list = vols.get(d.volume);
    if (!list) vols.set(d.volume, (list = []));
    list.push(d);
    const n = this.inodes.get(d.ino);
    if (n) n[1]++;
    else {
      this.inodes.set(d.ino, [d.bytes, 1]);
      this.uniqueBytes += d.bytes;
    }
  }

  private unref(d: SpoolDiff): void {
    const n = this.inodes.get(d.ino);
    if (!n) return;
    if (--n[1] === 0) {
      this.inodes.delete(d.ino);
      this.uniqueBytes -= n[0];
    }
  }

  private loadVolumeMeta(): void {
    for (const f of readdirSync(this.metaDir)) {
      const file = path.join(this.metaDir, f);
      if (f.endsWith('.tmp')) {
        rmSync(file, { force: true });
        continue;
      }
      const volume = f.replace(/\.json$/, '');
      if (!f.endsWith('.json') || !NAME_PATTERN.test(volume)) continue;
      try {
        const m = JSON.parse(readFileSync(file, 'utf8')) as { volumeSize?: unknown };
        if (typeof m.volumeSize === 'number' && Number.isSafeInteger(m.volumeSize)) this.sizes.set(volume, m.volumeSize);
      } catch (e) {
        this.log.warn({ file, err: (e as Error).message }, 'unreadable volume metadata ignored');
      }
    }
  }

  private loadSpool(): void {
    for (const archive of readdirSync(this.spoolDir)) {
      if (!NAME_PATTERN.test(archive)) continue;
      if (!this.index.has(archive)) this.index.set(archive, new Map());
      const aDir = path.join(this.spoolDir, archive);
      for (const volume of readdirSync(aDir)) {
        if (!NAME_PATTERN.test(volume)) continue;
        const vDir = path.join(aDir, volume);
        for (const uuid of readdirSync(vDir)) {
          if (!UUID_HEX.test(uuid)) continue;
          const uDir = path.join(vDir, uuid);
          for (const name of readdirSync(uDir)) {
            const file = path.join(uDir, name);
            if (!name.endsWith(WDIFF_EXTENSION)) {
              this.log.warn({ file }, 'unexpected file in the spool ignored');
              continue;
            }
            try {
              this.add(this.entryOf(archive, volume, uuid, name, file));
            } catch (e) {
              this.log.warn({ file, err: (e as Error).message }, 'spool file with a bad name ignored');
            }
          }
        }
      }
    }
  }
}

/** mkdir -p, fsyncing the parent of every directory it creates (so the new entry is durable). */
export function ensureDir(dir: string): void {
  if (existsSync(dir)) return;
  const parent = path.dirname(dir);
  if (parent !== dir) ensureDir(parent);
  try {
    mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('mkdir', dir, e);
    return;
  }
  syncDir(parent);
}

