/** The primary archive over gRPC: FullSync (bidi, resumable) and ListSnapshots. */
import * as grpc from '@grpc/grpc-js';
import { crc32 } from 'node:zlib';
import { RejectedError } from '@blockwal/core';
import { ArchiveServiceClient, blockwal, channelCredentials, clientOptions, deadlineIn, fromServiceError, reasonFromWire, writeWithBackpressure, type TlsFiles } from '@blockwal/proto';
import type { ArchiveLink, FullSyncHeader, FullSyncSession, RestorableSnapshot } from './peers.js';

const LIST_DEADLINE_MS = 10_000;
/** How long the archive may take to answer the header and to make the copy durable. */
const ANSWER_DEADLINE_MS = 10 * 60_000;

type FullSyncCall = grpc.ClientDuplexStream<blockwal.v1.IFullSyncRequest, blockwal.v1.FullSyncResponse>;

/** The answers of a bidi call, awaited one at a time; a failure ends the queue. */
class Answers<T> {
  private readonly items: T[] = [];
  private failure: Error | null = null;
  private waiter: { resolve: (v: T) => void; reject: (e: Error) => void } | null = null;

  push(v: T): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(v);
    } else this.items.push(v);
  }

  fail(e: Error): void {
    this.failure ??= e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(e);
    }
  }

  get error(): Error | null {
    return this.items.length === 0 ? this.failure : null;
  }

  /** True when an answer arrived that nobody asked for yet. */
  get unread(): boolean {
    return this.items.length > 0;
  }

  next(timeoutMs: number, what: string): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = null;
        reject(new RejectedError('stopped', `${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
    });
  }
}

export class GrpcArchiveLink implements ArchiveLink {
  private readonly client: ArchiveServiceClient;

  constructor(
    readonly name: string,
    readonly address: string,
    tls?: TlsFiles,
  ) {
    this.client = new ArchiveServiceClient(address, channelCredentials(tls), clientOptions());
  }

  async openFullSync(h: FullSyncHeader, signal?: AbortSignal): Promise<FullSyncSession> {
    const where = `archive ${this.name}`;
    if (signal?.aborted) throw new RejectedError('stopped', `${where}: full sync cancelled`);
    const call: FullSyncCall = this.client.fullSync();
    signal?.addEventListener('abort', () => call.cancel(), { once: true });
    const answers = new Answers<blockwal.v1.FullSyncResponse>();
    call.on('data', (r: blockwal.v1.FullSyncResponse) => answers.push(r));
    call.on('error', (e: grpc.ServiceError) => answers.fail(fromServiceError(e, where)));
    call.on('end', () => answers.fail(new RejectedError('stopped', `${where} ended the full sync`)));
    const refused = (r: blockwal.v1.FullSyncResponse) => {
      const reason = reasonFromWire(r.reason);
      return reason ? new RejectedError(reason, `${where}: ${r.message || reason}`, { volume: h.volume }) : null;
    };
    const write = async (msg: blockwal.v1.IFullSyncRequest) => {
      const failed = answers.error;
      if (failed) throw failed;
      const w = writeWithBackpressure(call, msg);
      if (w) await w;
    };
    try {
      await write({ header: { volume: h.volume, deviceUuid: h.uuid, volumeSize: h.sizeBytes, gidB: h.gidB, chunkSize: h.chunkSize } });
      const first = await answers.next(ANSWER_DEADLINE_MS, `${where} full sync header`);
      const r = refused(first);
      if (r) throw r;
      const resumeOffset = Number(first.resumeOffset ?? 0);
      return {
        resumeOffset,
        send: async (offset, data, length) => {
          if (answers.unread) {
            const a = await answers.next(0, where);
            throw refused(a) ?? new RejectedError('internal', `${where}: unexpected answer during the copy`);
          }
          const bytes = data ?? new Uint8Array(0);
          await write({ data: { offset, data: bytes, length, crc32: crc32(bytes) } });
        },
        finish: async (gidB, gidE, timestamp) => {
          await write({ done: { snapshot: { gidB, gidE }, timestamp } });
          call.end();
          for (;;) {
            const a = await answers.next(ANSWER_DEADLINE_MS, `${where} full sync end`);
            const rr = refused(a);
            if (rr) throw rr;
            if (a.done) return;
          }
        },
        cancel: () => call.cancel(),
      };
    } catch (e) {
      call.cancel();
      throw e instanceof RejectedError ? e : fromServiceError(e as Error, where);
    }
  }

  listSnapshots(volume: string, all: boolean): Promise<RestorableSnapshot[]> {
    return new Promise((resolve, reject) => {
      this.client.listSnapshots({ volume, all }, { deadline: deadlineIn(LIST_DEADLINE_MS) }, (err, res) => {
        if (err || !res) return reject(fromServiceError(err ?? new Error('no response'), `archive ${this.name}`));
        resolve(res.snapshots.map((s) => ({ gid: Number(s.gid), timestamp: Number(s.timestamp), explicit: !!s.explicit })));
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
