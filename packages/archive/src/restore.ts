/**
 * Restore: the image of a restorable snapshot written to a file under restoreDir. On the event
 * loop: the chain is chosen, the target checked and reserved, and the base and every diff of the
 * chain are **opened** — from then on a merge or a full sync that deletes or replaces them
 * changes nothing. The copy runs in a worker thread (jobs.ts `restore`): the base is cloned
 * (FICLONE reflink when the filesystem can, else a sparse copy), the diffs are redone in order
 * with redoWdiff, the result is fdatasynced under a temp name (`.<name>.restore-<hex>.tmp`,
 * deleted at start-up) and renamed into place, then the directory is fsynced.
 */
import { closeSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ioError, type Logger } from '@blockwal/core';
import type { Archive } from './archive.js';
import type { OpenedFile } from './jobs.js';
import type { Volume } from './volume.js';

export interface RestoreResult {
  readonly path: string;
  readonly sizeBytes: number;
  readonly baseClone: 'reflink' | 'copy';
  readonly diffsApplied: number;
}

export async function restoreSnapshot(archive: Archive, vol: Volume, gid: number, requestedPath: string, log: Logger): Promise<RestoreResult> {
  const diffs = vol.diffsToGid(gid);
  const target = archive.restoreTarget(requestedPath);
  const size = vol.record.sizeBytes!;
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.restore-${randomBytes(4).toString('hex')}.tmp`);
  const release = archive.reserveRestoreTarget(target);
  const opened: OpenedFile[] = [];
  try {
    const base = openRead(archive.store.basePath(vol.name));
    opened.push(base);
    for (const d of diffs) opened.push(openRead(archive.store.diffPath(vol.name, d.name)));
    const r = await archive.workers.run({ kind: 'restore', base, diffs: opened.slice(1), tmp, target, sizeBytes: size });
    log.info({ volume: vol.name, gid, path: target, baseClone: r.baseClone, diffs: diffs.length, sizeBytes: size }, 'snapshot restored');
    return { path: target, sizeBytes: size, baseClone: r.baseClone, diffsApplied: diffs.length };
  } catch (e) {
    rmSync(tmp, { force: true }); // the job deletes it on failure; not when its worker was stopped
    throw e;
  } finally {
    for (const f of opened) closeSync(f.fd);
    release();
  }
}

/** Opens a file for reading on the event loop (for a job); IoError naming it. */
export function openRead(file: string): OpenedFile {
  try {
    return { fd: openSync(file, 'r'), file };
  } catch (e) {
    throw ioError('open', file, e);
  }
}
