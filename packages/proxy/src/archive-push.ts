/**
 * The client side of ArchiveService.PushDiff (docs/pipeline.md §2): header → the archive's
 * verdict before any data → the sorted wdiff as checked chunks, with backpressure → end → the
 * archive's `stored`. Transport failures become RejectedError('stopped') (retry later).
 */
import { open } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import { RejectedError, readBuffer, type MetaDiff, type MetaSnap, type TlsConfig } from '@blockwal/core';
import {
  ArchiveServiceClient,
  ChunkEncoder,
  DEFAULT_CHUNK_BYTES,
  blockwal,
  channelCredentials,
  clientOptions,
  diffToWire,
  fromServiceError,
  reasonFromWire,
  writeWithBackpressure,
} from '@blockwal/proto';

import v1 = blockwal.v1;

export interface DiffPush {
  volume: string;
  deviceUuid: Uint8Array;
  diff: MetaDiff;
  volumeSize: number;
  /** The sorted wdiff file to send. */
  file: string;
}

export type PushOutcome = { stored: true; bytes: number } | { stored: false; error: RejectedError; latest?: MetaSnap };

/** How a forward task reaches its archive (a seam: tests and other transports plug in here). */
export interface DiffPusher {
  push(p: DiffPush, signal: AbortSignal): Promise<PushOutcome>;
  close(): void;
}

export interface ArchivePusherOptions {
  tls?: TlsConfig;
  /** How long to wait for the verdict and for `stored` after the end (default 60 s). */
  answerTimeoutMs?: number;
  chunkBytes?: number;
}

/** Pushes diffs to one archive over one gRPC channel. */
export class ArchivePusher implements DiffPusher {
  private readonly client: ArchiveServiceClient;
  private readonly answerTimeoutMs: number;
  private readonly chunkBytes: number;

  constructor(
    readonly address: string,
    opts: ArchivePusherOptions = {},
  ) {
    this.client = new ArchiveServiceClient(address, channelCredentials(opts.tls), clientOptions());
    this.answerTimeoutMs = opts.answerTimeoutMs ?? 60_000;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  close(): void {
    this.client.close();
  }

  async push(p: DiffPush, signal: AbortSignal): Promise<PushOutcome> {
    const call = this.client.pushDiff();
    const answers = new Answers(call, this.address);
    const onAbort = () => call.cancel();
    signal.addEventListener('abort', onAbort);
    try {
      call.write({ header: { volume: p.volume, deviceUuid: p.deviceUuid, diff: diffToWire(p.diff), volumeSize: p.volumeSize } });
      const verdict = await answers.next(this.answerTimeoutMs, 'verdict');
      if (verdict.reason !== v1.Reason.REASON_OK) return refused(verdict, this.address);
      let bytes = 0;
      try {
        bytes = await this.sendFile(call, p.file, answers, signal);
        call.end();
      } catch (e) {
        if (!(e instanceof EarlyAnswer)) throw e; // else: read the archive's answer below
      }
      const final = await answers.next(this.answerTimeoutMs, 'stored');
      if (final.reason !== v1.Reason.REASON_OK && final.reason !== v1.Reason.REASON_UNSPECIFIED) return refused(final, this.address);
      if (!final.stored) return { stored: false, error: new RejectedError('internal', `archive ${this.address} answered without storing the diff`) };
      return { stored: true, bytes };
    } catch (e) {
      call.cancel();
      if (signal.aborted) return { stored: false, error: new RejectedError('stopped', 'forward aborted: the proxy is stopping') };
      return { stored: false, error: e instanceof RejectedError ? e : fromServiceError(e as Error, this.address) };
    } finally {
      signal.removeEventListener('abort', onAbort);
      answers.dispose();
    }
  }

  /** Streams the file as chunks then the end; stops early when the archive answers first. */
  private async sendFile(call: grpc.ClientDuplexStream<v1.IPushDiffRequest, v1.PushDiffResponse>, file: string, answers: Answers, signal: AbortSignal): Promise<number> {
    const enc = new ChunkEncoder();
    const fh = await open(file, 'r');
    try {
      for (;;) {
        if (signal.aborted) throw new RejectedError('stopped', 'forward aborted');
        answers.throwIfAnswered();
        // A fresh buffer per chunk: grpc-js may still hold the previous one.
        const buf = readBuffer(this.chunkBytes);
        const { bytesRead } = await fh.read(buf, 0, buf.length, enc.length);
        if (bytesRead === 0) break;
        const wait = writeWithBackpressure(call, { chunk: enc.chunk(buf.subarray(0, bytesRead)) });
        if (wait) await Promise.race([wait, answers.early]);
      }
    } finally {
      await fh.close();
    }
    call.write({ end: enc.end() });
    return enc.length;
  }
}

function refused(r: v1.PushDiffResponse, address: string): PushOutcome {
  const reason = reasonFromWire(r.reason) ?? 'internal';
  const latest = r.latest ? { gidB: Number(r.latest.gidB ?? 0), gidE: Number(r.latest.gidE ?? 0) } : undefined;
  return { stored: false, error: new RejectedError(reason, `archive ${address}: ${r.message || reason}`), latest };
}

/** The responses of a PushDiff call, awaited one at a time. */
class Answers {
  private readonly queue: v1.PushDiffResponse[] = [];
  private failure: Error | null = null;
  private ended = false;
  private wake: (() => void) | null = null;
  private consumed = 0;
  /** Rejects when an answer or an error arrives while data is still being sent. */
  readonly early: Promise<never>;
  private rejectEarly: (e: Error) => void = () => {};

  constructor(
    private readonly call: grpc.ClientDuplexStream<v1.IPushDiffRequest, v1.PushDiffResponse>,
    private readonly address: string,
  ) {
    this.early = new Promise<never>((_, reject) => (this.rejectEarly = reject));
    this.early.catch(() => {});
    call.on('data', this.onData);
    call.on('error', this.onError);
    call.on('end', this.onEnd);
  }

  private readonly onData = (m: v1.PushDiffResponse) => {
    this.queue.push(m);
    if (this.consumed >= 1) this.rejectEarly(new EarlyAnswer());
    this.poke();
  };

  private readonly onError = (e: Error) => {
    this.failure = fromServiceError(e, this.address);
    this.rejectEarly(this.failure);
    this.poke();
  };

  private readonly onEnd = () => {
    this.ended = true;
    this.poke();
  };

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** While sending data: an answer or a failure means the archive stopped listening. */
  throwIfAnswered(): void {
    if (this.failure) throw this.failure;
    if (this.queue.length > 0) throw new EarlyAnswer();
  }

  async next(timeoutMs: number, what: string): Promise<v1.PushDiffResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        this.consumed++;
        return m;
      }
      if (this.failure) throw this.failure;
      if (this.ended) throw new RejectedError('internal', `archive ${this.address} closed PushDiff without its ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new RejectedError('stopped', `archive ${this.address}: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  dispose(): void {
    this.call.off('data', this.onData);
    this.call.off('error', this.onError);
    this.call.off('end', this.onEnd);
    this.call.on('error', () => {}); // a late error after cancel must not be unhandled
  }
}

/** The archive answered while the proxy was still sending: read the answer. */
class EarlyAnswer extends Error {
  constructor() {
    super('archive answered early');
  }
}
