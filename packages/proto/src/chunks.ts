/**
 * Byte streams over gRPC: a stream is a run of Chunk{offset, data, crc32} followed by
 * StreamEnd{length, crc32 of everything}. The receiver checks that offsets are contiguous, each
 * chunk's CRC-32 and the total, before it trusts a byte.
 */
import { crc32 } from 'node:zlib';
import { RejectedError } from '@blockwal/core';
import { MAX_CHUNK_BYTES } from './transport.js';

export { crc32 };

export interface ChunkMessage {
  offset?: number | null;
  data?: Uint8Array | null;
  crc32?: number | null;
}

export interface StreamEndMessage {
  length?: number | null;
  crc32?: number | null;
}

/** Builds the chunk messages of a stream, keeping the running length and CRC. */
export class ChunkEncoder {
  private offset = 0;
  private crc = 0;

  chunk(data: Uint8Array): { offset: number; data: Uint8Array; crc32: number } {
    const c = crc32(data);
    const msg = { offset: this.offset, data, crc32: c };
    this.crc = crc32(data, this.crc);
    this.offset += data.length;
    return msg;
  }

  end(): { length: number; crc32: number } {
    return { length: this.offset, crc32: this.crc };
  }

  get length(): number {
    return this.offset;
  }
}

/** Checks the chunks of a stream as they arrive; throws RejectedError('checksum'|'bad-argument'). */
export class ChunkVerifier {
  private offset = 0;
  private crc = 0;

  constructor(
    private readonly what: string,
    private readonly maxChunkBytes = MAX_CHUNK_BYTES,
  ) {}

  /** Verifies one chunk; returns its data. */
  accept(c: ChunkMessage): Uint8Array {
    const data = c.data ?? new Uint8Array(0);
    const off = Number(c.offset ?? 0);
    if (off !== this.offset) throw new RejectedError('bad-argument', `${this.what}: chunk at offset ${off}, expected ${this.offset}`);
    if (data.length > this.maxChunkBytes) throw new RejectedError('bad-argument', `${this.what}: chunk at offset ${off} has ${data.length} bytes, more than the limit ${this.maxChunkBytes}`);
    const got = crc32(data);
    if (got !== (c.crc32 ?? 0)) {
      throw new RejectedError('checksum', `${this.what}: chunk at offset ${off} (${data.length} bytes) has CRC-32 ${hex(got)}, the sender said ${hex(c.crc32 ?? 0)}`);
    }
    this.crc = crc32(data, this.crc);
    this.offset += data.length;
    return data;
  }

  /** Verifies the end of the stream. */
  end(e: StreamEndMessage): void {
    if (Number(e.length ?? 0) !== this.offset) throw new RejectedError('bad-argument', `${this.what}: stream ended at ${this.offset} bytes, the sender said ${e.length ?? 0}`);
    if ((e.crc32 ?? 0) !== this.crc) throw new RejectedError('checksum', `${this.what}: stream CRC-32 ${hex(this.crc)}, the sender said ${hex(e.crc32 ?? 0)}`);
  }

  get length(): number {
    return this.offset;
  }
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** Writes to a gRPC stream, waiting for 'drain' when its buffer is full (bounded memory). */
export function writeWithBackpressure<T>(stream: { write(m: T): boolean; once(ev: 'drain', f: () => void): unknown; once(ev: 'error' | 'close', f: (e?: unknown) => void): unknown; removeListener(ev: string, f: (...a: unknown[]) => void): unknown }, msg: T): Promise<void> | undefined {
  if (stream.write(msg)) return undefined;
  return new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (e?: unknown) => {
      cleanup();
      reject(e ?? new Error('stream closed'));
    };
    const cleanup = () => {
      stream.removeListener('drain', onDrain);
      stream.removeListener('error', onError as (...a: unknown[]) => void);
      stream.removeListener('close', onError as (...a: unknown[]) => void);
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
    stream.once('close', onError);
  });
}
