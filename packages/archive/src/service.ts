/**
 * ArchiveService over gRPC: thin handlers that turn proto messages into domain types, call the
 * domain (archive.ts, volume.ts, diff-receive.ts, full-sync.ts, restore.ts, virtual-full.ts)
 * and map every error through toServiceError. Wire shapes: docs/pipeline.md §2.
 */
import type * as grpc from '@grpc/grpc-js';
import { componentLogger, formatMetaState, RejectedError, type Logger, type RejectReason } from '@blockwal/core';
import {
  blockwal,
  ChunkEncoder,
  ChunkVerifier,
  crc32,
  diffFromWire,
  MAX_CHUNK_BYTES,
  reasonToWire,
  snapFromWire,
  snapToWire,
  toServiceError,
  uuidFromWire,
  writeWithBackpressure,
  type ArchiveServiceHandlers,
} from '@blockwal/proto';
import type { Archive } from './archive.js';
import { DiffReceiver } from './diff-receive.js';
import { FullSyncSession } from './full-sync.js';
import { MessageReader } from './grpc-stream.js';
import type { ArchiveMetrics } from './metrics.js';
import { restoreSnapshot } from './restore.js';
import { openSnapshot } from './virtual-full.js';
import type { Volume } from './volume.js';

import v1 = blockwal.v1;

const OK = v1.Reason.REASON_OK;

export interface ServiceContext {
  archive: Archive;
  metrics: ArchiveMetrics;
  logger: Logger;
  /** Default chunk size of ReadSnapshot streams. */
  readChunkBytes: number;
  /** Unix seconds. */
  now(): number;
}

export function archiveHandlers(ctx: ServiceContext): ArchiveServiceHandlers {
  const { archive, metrics } = ctx;
  const receiveLog = componentLogger(ctx.logger, 'archive.receive');
  const fullLog = componentLogger(ctx.logger, 'archive.full');
  const restoreLog = componentLogger(ctx.logger, 'archive.restore');

  /** Ends a streaming call with an error status (unless the client already went away). */
  const fail = (call: { cancelled: boolean; emit(ev: 'error', e: unknown): boolean }, e: unknown, log: Logger, msg: string) => {
    log.warn({ err: e instanceof Error ? e.message : String(e) }, msg);
    if (!call.cancelled) call.emit('error', toServiceError(e));
  };

  return {
    pushDiff: (call) => void pushDiff(call),
    fullSync: (call) => void fullSync(call),
    readSnapshot: (call) => void readSnapshot(call),

    restoreSnapshot(call, cb) {
      void (async () => {
        try {
          const vol = archive.volume(call.request.volume);
          const r = await restoreSnapshot(archive, vol, gidOf(call.request.gid), call.request.path, restoreLog);
          metrics.restores.inc({ volume: vol.name, clone: r.baseClone });
          cb(null, { size: r.sizeBytes, baseClone: r.baseClone, diffsApplied: r.diffsApplied });
        } catch (e) {
          restoreLog.warn({ volume: call.request.volume, gid: Number(call.request.gid), err: (e as Error).message }, 'restore refused');
          cb(toServiceError(e));
        }
      })();
    },

    listSnapshots(call, cb) {
      try {
        const snaps = archive.volume(call.request.volume).restorable();
        const shown = call.request.all ? snaps : snaps.filter((s) => s.isExplicit);
        cb(null, { snapshots: shown.map((s) => ({ gid: s.gid, timestamp: s.timestamp, explicit: s.isExplicit })) });
      } catch (e) {
        cb(toServiceError(e));
      }
    },

    listArchiveVolumes(_call, cb) {
      try {
        cb(null, { volumes: archive.volumes().map(volumeStatus) });
      } catch (e) {
        cb(toServiceError(e));
      }
    },
  };

  async function pushDiff(call: grpc.ServerDuplexStream<v1.PushDiffRequest, v1.IPushDiffResponse>): Promise<void> {
    const reader = new MessageReader<v1.PushDiffRequest>(call);
    let recv: DiffReceiver | null = null;
    try {
      const first = await reader.next();
      if (!first?.header) throw new RejectedError('bad-argument', 'PushDiff must start with a header');
      const opened = openReceive(first.header);
      if (!('receiver' in opened)) {
        call.write(opened.refusal);
        call.end();
        return;
      }
      recv = opened.receiver;
      const vol = opened.vol;
      call.write({ reason: OK });
      const verifier = new ChunkVerifier(recv.what, MAX_CHUNK_BYTES);
      for (;;) {
        const m = await reader.next();
        if (m === null) throw new RejectedError('bad-argument', `${recv.what}: the stream ended without its end message`);
        if (m.chunk) recv.write(verifier.accept(m.chunk));
        else if (m.end) {
          verifier.end(m.end);
          const stored = await recv.commit();
          metrics.receivedBytes.inc({ volume: vol.name }, stored.diff.dataSize);
          metrics.receivedDiffs.inc({ volume: vol.name });
          const latest = vol.latest();
          call.write({ reason: OK, stored: true, ...(latest ? { latest: snapToWire(latest) } : {}) });
          call.end();
          return;
        } else throw new RejectedError('bad-argument', `${recv.what}: a second header in the stream`);
      }
    } catch (e) {
      recv?.abort();
      fail(call, e, receiveLog, 'diff receive failed');
    }
  }

  /** The verdict on a PushDiff header: a receiver holding the volume, or the refusal to answer. */
  function openReceive(h: v1.IPushDiffHeader): { receiver: DiffReceiver; vol: Volume } | { refusal: v1.IPushDiffResponse } {
    let vol: Volume | undefined;
    const refuse = (reason: RejectReason, message: string) => {
      const latest = vol?.latest();
      receiveLog.info({ volume: h.volume, reason, message }, 'diff refused');
      return { refusal: { reason: reasonToWire(reason), message, ...(latest ? { latest: snapToWire(latest) } : {}) } };
    };
    try {
      vol = archive.volume(h.volume ?? '');
      const offer = { deviceUuid: uuidFromWire(h.deviceUuid), diff: diffFromWire(h.diff), sizeBytes: Number(h.volumeSize ?? 0) };
      const verdict = vol.check(offer);
      if (!verdict.ok) return refuse(verdict.reason, verdict.message);
      archive.checkSpace(vol.name);
      return { receiver: new DiffReceiver(archive, vol, offer, receiveLog), vol };
    } catch (e) {
      if (e instanceof RejectedError) return refuse(e.reason, e.message);
      throw e;
    }
  }

  async function fullSync(call: grpc.ServerDuplexStream<v1.FullSyncRequest, v1.IFullSyncResponse>): Promise<void> {
    const reader = new MessageReader<v1.FullSyncRequest>(call);
    let session: FullSyncSession | null = null;
    try {
      const first = await reader.next();
      const h = first?.header;
      if (!h) throw new RejectedError('bad-argument', 'FullSync must start with a header');
      const chunkBytes = Number(h.chunkSize ?? 0);
      if (chunkBytes > MAX_CHUNK_BYTES) throw new RejectedError('bad-argument', `chunk size ${chunkBytes} is over the limit ${MAX_CHUNK_BYTES}`);
      session = FullSyncSession.open(
        archive,
        { volume: h.volume ?? '', deviceUuid: uuidFromWire(h.deviceUuid), sizeBytes: Number(h.volumeSize ?? 0), gidB: Number(h.gidB ?? 0), chunkBytes },
        fullLog,
      );
      call.write({ reason: OK, resumeOffset: session.resumeOffset });
      for (;;) {
        const m = await reader.next();
        if (m === null) throw new RejectedError('bad-argument', `full sync of volume ${session.volume.name}: the stream ended without done (progress kept at ${session.receivedBytes} bytes)`);
        if (m.data) {
          const d = m.data;
          const data = d.data ?? new Uint8Array(0);
          checkFullSyncData(data, Number(d.length ?? 0), d.crc32 ?? 0, Number(d.offset ?? 0));
          session.write(Number(d.offset ?? 0), data, Number(d.length ?? 0));
        } else if (m.done) {
          const snap = snapFromWire(m.done.snapshot, 'full sync snapshot');
          session.finish(snap, Number(m.done.timestamp ?? 0) || Math.floor(ctx.now()));
          session = null;
          call.write({ reason: OK, done: true });
          call.end();
          return;
        } else throw new RejectedError('bad-argument', 'a second header in the FullSync stream');
      }
    } catch (e) {
      session?.drop();
      fail(call, e, fullLog, 'full sync failed');
    }
  }

  async function readSnapshot(call: grpc.ServerWritableStream<v1.ReadSnapshotRequest, v1.IReadSnapshotResponse>): Promise<void> {
    let close = () => {};
    try {
      const req = call.request;
      const vol = archive.volume(req.volume);
      const chunk = Number(req.chunkSize ?? 0) || ctx.readChunkBytes;
      if (chunk > MAX_CHUNK_BYTES) throw new RejectedError('bad-argument', `chunk size ${chunk} is over the limit ${MAX_CHUNK_BYTES}`);
      const { reader } = openSnapshot(archive, vol, gidOf(req.gid));
      close = () => reader.close();
      const enc = new ChunkEncoder();
      for (let b = reader.read(chunk); b !== null; b = reader.read(chunk)) {
        if (call.cancelled) return;
        const wait = writeWithBackpressure(call, { chunk: enc.chunk(b) });
        if (wait) await wait;
      }
      call.write({ end: enc.end() });
      call.end();
    } catch (e) {
      fail(call, e, restoreLog, 'snapshot read failed');
    } finally {
      close();
    }
  }

  function volumeStatus(v: Volume): v1.IArchiveVolumeStatus {
    const r = v.record;
    const latest = v.latest();
    const newest = v.restorable().at(-1);
    const size = r.sizeBytes ?? r.fullSync?.sizeBytes ?? 0;
    return {
      volume: v.name,
      state: r.state === 'archived' ? 'archived' : v.transfer === 'full-sync' ? 'full-sync' : 'sync-ready',
      size,
      deviceUuid: r.deviceUuid ?? r.fullSync?.deviceUuid ?? new Uint8Array(0),
      archiveUuid: r.archiveUuid ?? new Uint8Array(0),
      base: r.base ? formatMetaState(r.base) : '',
      ...(latest ? { latest: snapToWire(latest) } : {}),
      diffs: v.diffs.length,
      diffBytes: v.diffBytes,
      newestRestorable: newest ? { gid: newest.gid, timestamp: newest.timestamp, explicit: newest.isExplicit } : { gid: 0, timestamp: 0, explicit: false },
    };
  }
}

function gidOf(g: number | null | undefined): number {
  const gid = Number(g ?? 0);
  if (!Number.isSafeInteger(gid) || gid < 0) throw new RejectedError('bad-argument', `gid must be an integer from 0 to 2^53 - 1, got ${String(g)}`);
  return gid;
}

const zeroCrcs = new Map<number, number>();

/**
 * A FullSyncData piece: at most MAX_CHUNK_BYTES; its CRC-32 is of its data. An elided all-zero
 * piece (empty data) may carry 0 (the CRC of nothing) or the CRC of its `length` zero bytes.
 */
function checkFullSyncData(data: Uint8Array, length: number, crc: number, offset: number): void {
  const n = data.length > 0 ? data.length : length;
  if (n > MAX_CHUNK_BYTES) throw new RejectedError('bad-argument', `full sync data at offset ${offset} has ${n} bytes, more than the limit ${MAX_CHUNK_BYTES}`);
  if (data.length > 0) {
    const got = crc32(data);
    if (got !== crc) throw new RejectedError('checksum', `full sync data at offset ${offset} (${n} bytes) has CRC-32 ${hex(got)}, the sender said ${hex(crc)}`);
    return;
  }
  if (crc === 0) return;
  let z = zeroCrcs.get(n);
  if (z === undefined) {
    z = crc32(new Uint8Array(n));
    if (zeroCrcs.size < 16) zeroCrcs.set(n, z);
  }
  if (z !== crc) throw new RejectedError('checksum', `elided zero data at offset ${offset} (${n} bytes) has CRC-32 ${hex(crc)}, expected 0 or ${hex(z)}`);
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
