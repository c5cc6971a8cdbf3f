/**
 * A chunk of log as a WalB wlog file, produced as a stream of ~1 MiB pieces (what WlogWriter
 * writes: the 4 KiB header with uuid, salt, pbs and begin lsid; each logpack header and its data;
 * the end marker). Never more than one piece and one logpack are held in memory; `send` applies
 * the gRPC stream's backpressure.
 */
import { encodeEndMarker, encodeLogpackHeader, encodeWlogHeader, nextLogpackLsid } from '@blockwal/core';
import { DEFAULT_CHUNK_BYTES } from '@blockwal/proto';
import type { LogpackData } from './source.js';

/** Gathers bytes into pieces of `size` bytes and sends each (a fresh buffer per piece). */
export class PieceWriter {
  private buf: Buffer;
  private used = 0;
  bytes = 0;

  constructor(
    private readonly send: (piece: Uint8Array) => Promise<void>,
    private readonly size = DEFAULT_CHUNK_BYTES,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const k = Math.min(data.length - off, this.size - this.used);
      this.buf.set(data.subarray(off, off + k), this.used);
      this.used += k;
      off += k;
      if (this.used === this.size) await this.flush();
    }
    this.bytes += data.length;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const piece = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(this.size);
    this.used = 0;
    await this.send(piece);
  }
}

export interface WlogIdentity {
  uuid: Uint8Array;
  salt: number;
  pbs: number;
}

/** Streams the wlog of [begin, end) read from `packs`; returns the bytes sent. */
export async function streamWlog(out: PieceWriter, id: WlogIdentity, begin: number, end: number, packs: AsyncIterable<LogpackData>): Promise<number> {
  await out.write(encodeWlogHeader({ salt: id.salt, pbs: id.pbs, uuid: id.uuid, beginLsid: begin, endLsid: Number.POSITIVE_INFINITY }));
  let lsid = begin;
  for await (const p of packs) {
    if (p.header.logpackLsid !== lsid) throw new RangeError(`logpack at lsid ${p.header.logpackLsid} does not continue the wlog at ${lsid}`);
    await out.write(encodeLogpackHeader(p.header));
    await out.write(p.data);
    lsid = nextLogpackLsid(p.header);
  }
  if (lsid !== end) throw new RangeError(`the log read ends at lsid ${lsid}, not at the chunk end ${end}`);
  await out.write(encodeEndMarker(id.pbs, id.salt));
  await out.flush();
  return out.bytes;
}
