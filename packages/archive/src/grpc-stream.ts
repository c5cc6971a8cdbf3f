/**
 * Pulling messages from a gRPC server call one at a time (`await next()`), with flow control:
 * grpc-js asks the peer for the next message only when this side reads. Unlike `for await`, the
 * reader can stop early without destroying the call, so the handler can still answer. A client
 * cancel (or a dropped connection) makes `next()` throw RejectedError('stopped').
 */
import type { Readable } from 'node:stream';
import { RejectedError } from '@blockwal/core';

export class MessageReader<T> {
  private wake: (() => void) | null = null;
  private ended = false;
  private failure: Error | null = null;

  constructor(private readonly stream: Readable) {
    const poke = () => {
      const w = this.wake;
      this.wake = null;
      w?.();
    };
    stream.on('readable', poke);
    stream.on('end', () => {
      this.ended = true;
      poke();
    });
    stream.on('cancelled', () => {
      this.failure ??= new RejectedError('stopped', 'the client cancelled the call or the connection dropped');
      poke();
    });
    stream.on('close', () => {
      if (!this.ended) this.failure ??= new RejectedError('stopped', 'the call was closed before its stream ended');
      poke();
    });
    stream.on('error', (e: Error) => {
      this.failure ??= e;
      poke();
    });
  }

  /** The next message, or null once the client half-closed. */
  async next(): Promise<T | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      const m = this.stream.read() as T | null;
      if (m !== null) return m;
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
