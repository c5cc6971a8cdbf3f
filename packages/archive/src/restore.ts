/**
 * Restore: the image of a restorable snapshot written to a file under restoreDir. The base image
 * is cloned (FICLONE reflink when the filesystem can, else a sparse copy), the chain's diffs are
 * applied in order with redoWdiff, the result is fdatasynced under a temp name
 * (`.<name>.restore-<hex>.tmp`, deleted at start-up) and renamed into place, then the directory
 * is fsynced. Every file is opened first, so a diff registered or a full sync finished meanwhile
 * changes nothing. Synchronous: it blocks the event loop for the whole restore (DESIGN.md).
 */
import { closeSync, fstatSync, ftruncateSync, openSync, renameSync, rmSync, constants as C } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cloneOrCopy } from '@blockwal/native-io';
import { ImageTarget, ioError, openWdiff, redoWdiff, syncDir, type Logger, type WdiffSource } from '@blockwal/core';
import type { Archive } from './archive.js';
import type { Volume } from './volume.js';

export interface RestoreResult {
  readonly path: string;
  readonly sizeBytes: number;
  readonly baseClone: 'reflink' | 'copy';
  readonly diffsApplied: number;
}

export function restoreSnapshot(archive: Archive, vol: Volume, gid: number, requestedPath: string, log: Logger): RestoreResult {
  const diffs = vol.diffsToGid(gid);
  const target = archive.restoreTarget(requestedPath);
  const size = vol.record.sizeBytes!;
  const baseFile = archive.store.basePath(vol.name);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.restore-${randomBytes(4).toString('hex')}.tmp`);
  const sources: WdiffSource[] = [];
  let baseFd = -1;
  let outFd = -1;
  const io = <T>(op: string, file: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw ioError(op, file, e);
    }
  };
  try {
    baseFd = io('open', baseFile, () => openSync(baseFile, 'r'));
    for (const d of diffs) sources.push(openWdiff(archive.store.diffPath(vol.name, d.name)));
    outFd = io('create', tmp, () => openSync(tmp, C.O_RDWR | C.O_CREAT | C.O_EXCL, 0o644));
    const baseClone = io('clone', tmp, () => cloneOrCopy(baseFd, outFd));
    const image = new ImageTarget(outFd, target);
    for (const src of sources) redoWdiff(src, image);
    image.sync();
    const got = fstatSync(outFd).size;
    if (got !== size) io('truncate', tmp, () => ftruncateSync(outFd, size));
    closeSync(outFd);
    outFd = -1;
    io('rename', target, () => renameSync(tmp, target));
    io('fsync', path.dirname(target), () => syncDir(path.dirname(target)));
    log.info({ volume: vol.name, gid, path: target, baseClone, diffs: diffs.length, sizeBytes: size }, 'snapshot restored');
    return { path: target, sizeBytes: size, baseClone, diffsApplied: diffs.length };
  } catch (e) {
    if (outFd >= 0) closeSync(outFd);
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    for (const s of sources) s.close();
    if (baseFd >= 0) closeSync(baseFd);
  }
}
