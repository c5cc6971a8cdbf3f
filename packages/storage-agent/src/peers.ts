/**
 * What the agent needs from its peers, without gRPC: a proxy takes a wlog, the primary archive
 * takes a full backup and lists restorable snapshots. The gRPC implementations are
 * proxy-link.ts and archive-link.ts; refusals are RejectedError (core/src/reject.ts).
 */
import { BlockwalError } from '@blockwal/core';
import type { ChunkDiff } from './chunk.js';

export interface PushWlogHeader {
  volume: string;
  uuid: Uint8Array;
  pbs: number;
  salt: number;
  sizeBytes: number;
  diff: ChunkDiff;
  beginLsid: number;
  endLsid: number;
}

/** Writes the wlog's bytes through `send` (which waits while the stream is full). */
export type WlogBody = (send: (piece: Uint8Array) => Promise<void>) => Promise<void>;

export interface ProxyLink {
  readonly name: string;
  /** Resolves once the proxy stored the wlog durably; RejectedError on a refusal or a transport failure. */
  pushWlog(header: PushWlogHeader, body: WlogBody, signal?: AbortSignal): Promise<{ wdiffName: string }>;
  close(): void;
}

/** An error of the agent's own side while streaming (reading its log): not the peer's fault. */
export class LocalStreamError extends BlockwalError {
  constructor(readonly inner: unknown) {
    super(inner instanceof BlockwalError ? inner.code : 'IO_ERROR', inner instanceof Error ? inner.message : String(inner), {}, { cause: inner });
  }
}

export interface FullSyncHeader {
  volume: string;
  uuid: Uint8Array;
  sizeBytes: number;
  gidB: number;
  chunkSize: number;
}

export interface FullSyncSession {
  /** Where the archive wants the copy to (re)start. */
  readonly resumeOffset: number;
  /** Sends the image bytes at offset (null: `length` zero bytes). */
  send(offset: number, data: Uint8Array | null, length: number): Promise<void>;
  /** Sends the end snapshot |gidB, gidE| and waits until the archive made the copy durable. */
  finish(gidB: number, gidE: number, timestamp: number): Promise<void>;
  cancel(): void;
}

export interface RestorableSnapshot {
  gid: number;
  timestamp: number;
  explicit: boolean;
}

export interface ArchiveLink {
  readonly name: string;
  /** Opens the copy; `signal` cancels it (also while waiting for the first answer). */
  openFullSync(h: FullSyncHeader, signal?: AbortSignal): Promise<FullSyncSession>;
  listSnapshots(volume: string, all: boolean): Promise<RestorableSnapshot[]>;
  close(): void;
}
