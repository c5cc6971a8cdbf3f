/**
 * The long, synchronous file work of the archive, run off the event loop by an archive worker
 * thread (archive-worker.ts, worker-pool.ts) — or inline when workerThreads is 0:
 *
 * - `verify`  a received wdiff (wdiff-verify.ts), by path: the receiver owns the temp file;
 * - `restore` clone the base, redo the chain, fdatasync, rename into place, fsync the directory;
 * - `merge`   k-way merge of consecutive diffs into a new sorted wdiff, fsynced;
 * - `ping`    answers (tests, health of the pool).
 *
 * Inputs that the event loop chose (the base and the diffs of a restore or a merge) come as
 * **descriptors opened by the event-loop thread** (a worker shares the process's descriptor
 * table): the files were opened when they were chosen, so a merge or a full sync that deletes
 * or replaces them meanwhile changes nothing. The job neither closes them nor keeps them; the
 * caller closes them when the job has ended. Only plain data crosses the thread boundary;
 * errors go back as WireError (wire-error.ts).
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, rmSync, constants as C } from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { cloneOrCopy } from '@blockwal/native-io';
import {
  DEFAULT_MAX_IO_LB,
  ImageTarget,
  IndexedWdiffReader,
  SequentialReader,
  SequentialWriter,
  SortedSink,
  SortedWdiffReader,
  SortedWdiffWriter,
  WDIFF_FILE_HEADER_SIZE,
  WDIFF_TYPE_INDEXED,
  ioError,
  mergeWdiffs,
  parseWdiffHeader,
  preadExact,
  redoWdiff,
  syncDir,
  wdiffSource,
  type CompressionSpec,
  type WdiffSource,
} from '@blockwal/core';
import { verifyReceivedWdiff, type WdiffFacts } from './wdiff-verify.js';

/** A file opened by the event-loop thread: its descriptor and its name (for messages). */
/** Initial read buffer per input of a merge. */
const MERGE_READ_BUFFER = 64 * 1024;

export interface OpenedFile {
  readonly fd: number;
  readonly file: string;
}

export interface VerifyJob {
  readonly kind: 'verify';
  readonly file: string;
  readonly what: string;
  readonly deviceUuid: Uint8Array;
  readonly sizeBytes: number;
}

export interface RestoreJob {
  readonly kind: 'restore';
  readonly base: OpenedFile;
  /** The chain to the snapshot, oldest first. */
  readonly diffs: readonly OpenedFile[];
  /** Created here (O_EXCL), renamed to target at the end; deleted on failure. */
  readonly tmp: string;
  readonly target: string;
  readonly sizeBytes: number;
}

export interface MergeJob {
  readonly kind: 'merge';
  /** Consecutive diffs, oldest first. */
  readonly sources: readonly OpenedFile[];
  /** Created here (O_EXCL), fsynced; deleted on failure. Registering it is the caller's. */
  readonly out: string;
  readonly uuid: Uint8Array;
  readonly compression: CompressionSpec;
}

export interface PingJob {
  readonly kind: 'ping';
}

export type Job = VerifyJob | RestoreJob | MergeJob | PingJob;

export interface RestoreOutcome {
  readonly baseClone: 'reflink' | 'copy';
}

export interface MergeOutcome {
  /** Size of the merged file. */
  readonly bytes: number;
  readonly inputRecords: number;
  readonly outputRecords: number;
  readonly passedThrough: number;
}

export interface JobResults {
  verify: WdiffFacts;
  restore: RestoreOutcome;
  merge: MergeOutcome;
  ping: { readonly threadId: number };
}

export type JobResult<J extends Job> = JobResults[J['kind']];

export function runJob<J extends Job>(job: J): JobResult<J>;
export function runJob(job: Job): JobResults[Job['kind']] {
  switch (job.kind) {
    case 'verify':
      return verifyReceivedWdiff(job.file, { what: job.what, deviceUuid: job.deviceUuid, sizeBytes: job.sizeBytes });
    case 'restore':
      return restoreImage(job);
    case 'merge':
      return mergeDiffFiles(job);
    case 'ping':
      return { threadId };
  }
}

/**
 * A wdiff source reading an already opened descriptor (which it does not own: close() leaves it
 * open). `bufferSize`: the initial read buffer of a sorted file (it grows to the largest record).
 */
export function wdiffSourceOfFd(f: OpenedFile, bufferSize?: number): WdiffSource {
  const hb = Buffer.alloc(WDIFF_FILE_HEADER_SIZE);
  preadExact(f.fd, hb, hb.length, 0, f.file);
  const header = parseWdiffHeader(hb, { file: f.file });
  if (header.type === WDIFF_TYPE_INDEXED) return wdiffSource(new IndexedWdiffReader(f.fd, { file: f.file, size: fstatSync(f.fd).size }));
  const input = new SequentialReader(f.fd, { file: f.file, startOffset: WDIFF_FILE_HEADER_SIZE, ...(bufferSize ? { bufferSize } : {}) });
  return wdiffSource(new SortedWdiffReader(input, { file: f.file, header }));
}

/** An image whose per-diff sync (redoWdiff syncs at the end of each diff) only flushes: one fdatasync at the end. */
class RestoreImage extends ImageTarget {
  override sync(): void {
    this.flush();
  }
  syncNow(): void {
    super.sync();
  }
}

function io<T>(op: string, file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw ioError(op, file, e);
  }
}

/** Clone (reflink or copy) of the base, the chain redone in order, fdatasync, rename, fsync dir. */
export function restoreImage(j: RestoreJob): RestoreOutcome {
  let out = -1;
  try {
    out = io('create', j.tmp, () => openSync(j.tmp, C.O_RDWR | C.O_CREAT | C.O_EXCL, 0o644));
    const fd = out;
    const baseClone = io('clone', j.tmp, () => cloneOrCopy(j.base.fd, fd));
    const image = new RestoreImage(out, j.target);
    for (const d of j.diffs) redoWdiff(wdiffSourceOfFd(d), image);
    image.flush();
    if (fstatSync(out).size !== j.sizeBytes) io('truncate', j.tmp, () => ftruncateSync(fd, j.sizeBytes));
    image.syncNow();
    closeSync(out);
    out = -1;
    io('rename', j.target, () => renameSync(j.tmp, j.target));
    io('fsync', path.dirname(j.target), () => syncDir(path.dirname(j.target)));
    return { baseClone };
  } catch (e) {
    if (out >= 0) closeSync(out);
    rmSync(j.tmp, { force: true });
    throw e;
  }
}

/** Merges the sources (oldest first, newest wins) into a new sorted wdiff, fsynced (not registered). */
export function mergeDiffFiles(j: MergeJob): MergeOutcome {
  let fd = -1;
  try {
    fd = io('create', j.out, () => openSync(j.out, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644));
    const w = new SequentialWriter(fd, { file: j.out });
    const sink = new SortedSink(new SortedWdiffWriter(w, { uuid: j.uuid, compression: j.compression, file: j.out }), DEFAULT_MAX_IO_LB);
    // Every source is open at once: small initial buffers keep a merge of hundreds of diffs small.
    const stats = mergeWdiffs(j.sources.map((f) => wdiffSourceOfFd(f, MERGE_READ_BUFFER)), sink, j.compression);
    w.flush();
    const out = fd;
    io('fsync', j.out, () => fsyncSync(out));
    const bytes = fstatSync(fd).size;
    closeSync(fd);
    fd = -1;
    return { bytes, ...stats };
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    rmSync(j.out, { force: true });
    throw e;
  }
}
