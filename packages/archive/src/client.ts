/**
 * Typed promise helpers over ArchiveServiceClient, for the CLI, the other servers and tests.
 * Failed calls become RejectedError (fromServiceError); byte streams are checked (chunk CRCs and
 * the end's total) and sent with backpressure.
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync, fstatSync, constants as C } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { isAllZero } from '@blockwal/native-io';
import { ioError, readBuffer, RejectedError, syncDir, uuidToHex, type MetaDiff, type MetaSnap, type RejectReason, type RestorableSnapshot } from '@blockwal/core';
import {
  ArchiveServiceClient,
  blockwal,
  channelCredentials,
  ChunkEncoder,
  ChunkVerifier,
  clientOptions,
  crc32,
  DEFAULT_CHUNK_BYTES,
  diffToWire,
  fromServiceError,
  reasonFromWire,
  snapToWire,
  writeWithBackpressure,
  type TlsFiles,
} from '@blockwal/proto';

import v1 = blockwal.v1;

/** A client of the archive at `address` (mutual TLS when `tls` is given). Close it with `.close()`. */
export function connectArchive(address: string, tls?: TlsFiles): ArchiveServiceClient {
  return new ArchiveServiceClient(address, channelCredentials(tls), clientOptions());
}

function unary<T>(call: (cb: (e: grpc.ServiceError | null, r?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((e, r) => (e ? reject(fromServiceError(e)) : resolve(r!))));
}

/** A failure of a streaming call as a RejectedError (server status, or transport). */
function rejected(e: unknown): RejectedError {
  return e instanceof RejectedError ? e : fromServiceError(e as grpc.ServiceError);
}

const snapOf = (s: v1.ISnapshot | null | undefined): MetaSnap | null => (s ? { gidB: Number(s.gidB ?? 0), gidE: Number(s.gidE ?? 0) } : null);

/** Restorable snapshots, oldest first: explicit ones, or all with `all`. */
export async function listSnapshots(client: ArchiveServiceClient, volume: string, opts: { all?: boolean } = {}): Promise<RestorableSnapshot[]> {
  const r = await unary<v1.ListSnapshotsResponse>((cb) => client.listSnapshots({ volume, all: !!opts.all }, cb));
  return r.snapshots.map((s) => ({ gid: Number(s.gid), timestamp: Number(s.timestamp), isExplicit: !!s.explicit }));
}

export interface ArchiveVolumeInfo {
  volume: string;
  /** "archived", "full-sync" (a copy is being received) or "sync-ready" (waiting for a copy or its resume). */
  state: string;
  sizeBytes: number;
  /** Hex, empty when unknown. */
  deviceUuid: string;
  archiveUuid: string;
  /** `<|B|>` or `<|B,E|>`; empty without a base. */
  base: string;
  latest: MetaSnap | null;
  diffs: number;
  diffBytes: number;
  newestRestorable: RestorableSnapshot | null;
}

export async function listArchiveVolumes(client: ArchiveServiceClient): Promise<ArchiveVolumeInfo[]> {
  const r = await unary<v1.ListArchiveVolumesResponse>((cb) => client.listArchiveVolumes({}, cb));
  return r.volumes.map((v) => {
    const n = v.newestRestorable;
    return {
      volume: v.volume ?? '',
      state: v.state ?? '',
      sizeBytes: Number(v.size),
      deviceUuid: v.deviceUuid?.length ? uuidToHex(v.deviceUuid) : '',
      archiveUuid: v.archiveUuid?.length ? uuidToHex(v.archiveUuid) : '',
      base: v.base ?? '',
      latest: snapOf(v.latest),
      diffs: Number(v.diffs ?? 0),
      diffBytes: Number(v.diffBytes),
      newestRestorable: n && Number(n.timestamp) > 0 ? { gid: Number(n.gid), timestamp: Number(n.timestamp), isExplicit: !!n.explicit } : null,
    };
  });
}

export interface RestoreReply {
  sizeBytes: number;
  baseClone: 'reflink' | 'copy';
  diffsApplied: number;
}

/** Restores `gid` into `file` on the archive's host (a path under its restoreDir). */
export async function restoreSnapshot(client: ArchiveServiceClient, volume: string, gid: number, file: string): Promise<RestoreReply> {
  const r = await unary<v1.RestoreSnapshotResponse>((cb) => client.restoreSnapshot({ volume, gid, path: file }, cb));
  return { sizeBytes: Number(r.size), baseClone: r.baseClone === 'reflink' ? 'reflink' : 'copy', diffsApplied: r.diffsApplied };
}

/**
 * Streams the image of `gid` into a local file (temp name, fsync, rename): every chunk's CRC and
 * the end's total are checked first. Returns the image size.
 */
export async function readSnapshotToFile(client: ArchiveServiceClient, volume: string, gid: number, file: string, opts: { chunkBytes?: number } = {}): Promise<{ bytes: number }> {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
  let open = true;
  try {
    const verifier = new ChunkVerifier(`snapshot ${gid} of volume ${volume}`);
    const call = client.readSnapshot({ volume, gid, chunkSize: opts.chunkBytes ?? 0 });
    let ended = false;
    try {
      for await (const m of call as AsyncIterable<v1.ReadSnapshotResponse>) {
        if (m.chunk) {
          const at = verifier.length;
          const data = verifier.accept(m.chunk);
          for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off, at + off);
        } else if (m.end) {
          verifier.end(m.end);
          ended = true;
        }
      }
    } catch (e) {
      throw rejected(e);
    }
    if (!ended) throw new RejectedError('bad-argument', `snapshot ${gid} of volume ${volume}: the stream ended without its end message`);
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(tmp, file);
    syncDir(path.dirname(path.resolve(file)));
    return { bytes: verifier.length };
  } catch (e) {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

export interface DiffPush {
  volume: string;
  deviceUuid: Uint8Array;
  diff: MetaDiff;
  volumeSize: number;
}

export type PushDiffResult =
  | { stored: true; latest: MetaSnap | null }
  | { stored: false; reason: RejectReason; message: string; latest: MetaSnap | null };

/** Pushes a sorted wdiff file: header, verdict, chunks, end, stored. A refusal is a result, not a throw. */
export async function pushDiffFile(client: ArchiveServiceClient, push: DiffPush, file: string, opts: { chunkBytes?: number } = {}): Promise<PushDiffResult> {
  const call = client.pushDiff();
  const answers = call[Symbol.asyncIterator]() as AsyncIterator<v1.PushDiffResponse>;
  const next = async (): Promise<v1.PushDiffResponse | null> => {
    try {
      const r = await answers.next();
      return r.done ? null : r.value;
    } catch (e) {
      throw fromServiceError(e as grpc.ServiceError);
    }
  };
  const refusal = (r: v1.PushDiffResponse): PushDiffResult => ({ stored: false, reason: reasonFromWire(r.reason) ?? 'internal', message: r.message, latest: snapOf(r.latest) });
  try {
    call.write({ header: { volume: push.volume, deviceUuid: push.deviceUuid, diff: diffToWire(push.diff), volumeSize: push.volumeSize } });
    const verdict = await next();
    if (verdict === null) throw new RejectedError('internal', 'the archive closed the call without a verdict');
    if (verdict.reason !== v1.Reason.REASON_OK) return refusal(verdict);
    const enc = new ChunkEncoder();
    await forEachChunk(file, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, async (data) => {
      const w = writeWithBackpressure(call, { chunk: enc.chunk(data) });
      if (w) await w;
    });
    call.write({ end: enc.end() });
    call.end();
    const last = await next();
    if (last === null) throw new RejectedError('internal', 'the archive closed the call without an answer');
    if (last.reason !== v1.Reason.REASON_OK || !last.stored) return refusal(last);
    return { stored: true, latest: snapOf(last.latest) };
  } catch (e) {
    throw rejected(e);
  } finally {
    call.cancel();
  }
}

export interface FullSyncPush {
  volume: string;
  deviceUuid: Uint8Array;
  /** The dirty snapshot the copy represents: |gidB, gidE|. */
  snapshot: MetaSnap;
  timestamp: number;
}

export interface FullSyncOptions {
  chunkBytes?: number;
  /** Stops the copy (the call is cancelled, as a dropped connection). */
  signal?: AbortSignal;
  /** Called after each chunk with the offset reached; the copy waits for a returned promise. */
  onSent?: (offset: number) => void | Promise<void>;
}

/**
 * Seeds the archive with the image in `file` (its size is the volume size): header, resume
 * offset, chunks from there (all-zero chunks elided), done. Resolves with where it resumed.
 */
export async function fullSyncFromFile(client: ArchiveServiceClient, push: FullSyncPush, file: string, opts: FullSyncOptions = {}): Promise<{ resumedAt: number; sizeBytes: number }> {
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const call = client.fullSync();
  const answers = call[Symbol.asyncIterator]() as AsyncIterator<v1.FullSyncResponse>;
  const next = async (): Promise<v1.FullSyncResponse | null> => {
    try {
      const r = await answers.next();
      return r.done ? null : r.value;
    } catch (e) {
      throw fromServiceError(e as grpc.ServiceError);
    }
  };
  const fd = openSync(file, 'r');
  const onAbort = () => call.cancel();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const size = fstatSync(fd).size;
    call.write({ header: { volume: push.volume, deviceUuid: push.deviceUuid, volumeSize: size, gidB: push.snapshot.gidB, chunkSize: chunkBytes } });
    const first = await next();
    if (first === null || first.reason !== v1.Reason.REASON_OK) throw new RejectedError(reasonFromWire(first?.reason) ?? 'internal', first?.message || 'the archive refused the full sync');
    const resumedAt = Number(first.resumeOffset);
    const buf = readBuffer(chunkBytes);
    for (let off = resumedAt; off < size; ) {
      if (opts.signal?.aborted) throw new RejectedError('stopped', 'full sync aborted');
      const n = readChunk(fd, buf, Math.min(chunkBytes, size - off), off, file);
      const data = buf.subarray(0, n);
      const msg = isAllZero(data) ? { offset: off, data: new Uint8Array(0), length: n, crc32: 0 } : { offset: off, data: Uint8Array.from(data), length: n, crc32: crc32(data) };
      const w = writeWithBackpressure(call, { data: msg });
      if (w) await w;
      off += n;
      await opts.onSent?.(off);
    }
    if (opts.signal?.aborted) throw new RejectedError('stopped', 'full sync aborted');
    call.write({ done: { snapshot: snapToWire(push.snapshot), timestamp: push.timestamp } });
    call.end();
    const last = await next();
    if (last === null || !last.done) throw new RejectedError(reasonFromWire(last?.reason) ?? 'internal', last?.message || 'the archive closed the call before done');
    return { resumedAt, sizeBytes: size };
  } catch (e) {
    throw rejected(e);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    closeSync(fd);
    call.cancel();
  }
}

async function forEachChunk(file: string, chunkBytes: number, f: (data: Uint8Array) => Promise<void>): Promise<void> {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    for (let off = 0; off < size; ) {
      const buf = readBuffer(Math.min(chunkBytes, size - off));
      const n = readChunk(fd, buf, buf.length, off, file);
      await f(buf.subarray(0, n));
      off += n;
    }
  } finally {
    closeSync(fd);
  }
}

function readChunk(fd: number, buf: Uint8Array, len: number, pos: number, file: string): number {
  let got = 0;
  try {
    while (got < len) {
      const k = readSync(fd, buf, got, len - got, pos + got);
      if (k === 0) break;
      got += k;
    }
  } catch (e) {
    throw ioError('read', file, e);
  }
  if (got !== len) throw ioError('read', file, new Error(`short read at ${pos}: ${got} of ${len} bytes`));
  return got;
}
