/**
 * The transmission-phase byte stream → requests, straight from socket chunks.
 *
 * A header that lies inside one chunk is decoded in place. One that straddles chunks is first
 * gathered in a 28-byte scratch buffer. A WRITE payload that lies inside its chunk is delivered
 * as a view of that chunk: no copy, and Node never reuses socket chunks. One that spans chunks is
 * copied once into a buffer allocated for it. A payload the sink rejects is skipped as it
 * arrives and never buffered, so a client can send any length without costing memory. The
 * header object passed to the sink is reused: the sink copies what it keeps.
 */
import { NBD_CMD_WRITE, NBD_REQUEST_MAGIC, readRequestHeader, REQUEST_SIZE, type RequestHeader } from './protocol.js';

export interface RequestSink {
  /**
   * A request header (DISC included). For a WRITE, return true to receive the payload (onPayload),
   * false to have it skipped (onSkipped once consumed); ignored for other commands. The sink may
   * call stop() from here.
   */
  onHeader(h: RequestHeader): boolean;
  /** The whole payload of the WRITE last accepted by onHeader; the sink owns it. */
  onPayload(data: Buffer): void;
  /** The payload of the WRITE last rejected by onHeader has been consumed. */
  onSkipped(): void;
  /** Not a request magic: framing is lost; the parser has stopped. */
  onBadMagic(magic: number): void;
}

export class RequestParser {
  private readonly scratch = Buffer.allocUnsafe(REQUEST_SIZE);
  private scratchFill = 0;
  private readonly header: RequestHeader = { magic: 0, flags: 0, type: 0, handleHi: 0, handleLo: 0, offset: 0, length: 0 };
  private payload: Buffer | undefined;
  private payloadFill = 0;
  private skipLeft = 0;
  private stopped = false;

  constructor(private readonly sink: RequestSink) {}

  /** Bytes allocated for a payload still being received (counts against in-flight bounds). */
  get partialPayloadBytes(): number {
    return this.payload ? this.payload.length : 0;
  }

  /** True while a request has been started but not completed (header, payload or skip). */
  get midRequest(): boolean {
    return this.scratchFill > 0 || this.payload !== undefined || this.skipLeft > 0;
  }

  /** Stops parsing for good and drops any partial request. */
  stop(): void {
    this.stopped = true;
    this.scratchFill = 0;
    this.payload = undefined;
    this.skipLeft = 0;
  }

  feed(chunk: Buffer): void {
    const n = chunk.length;
    let pos = 0;
    while (pos < n && !this.stopped) {
      if (this.skipLeft > 0) {
        const k = Math.min(this.skipLeft, n - pos);
        this.skipLeft -= k;
        pos += k;
        if (this.skipLeft === 0) this.sink.onSkipped();
        continue;
      }
      const payload = this.payload;
      if (payload !== undefined) {
        const k = Math.min(payload.length - this.payloadFill, n - pos);
        chunk.copy(payload, this.payloadFill, pos, pos + k);
        this.payloadFill += k;
        pos += k;
        if (this.payloadFill === payload.length) {
          this.payload = undefined;
          this.sink.onPayload(payload);
        }
        continue;
      }
      let hb: Buffer;
      let ho: number;
      if (this.scratchFill === 0 && n - pos >= REQUEST_SIZE) {
        hb = chunk;
        ho = pos;
        pos += REQUEST_SIZE;
      } else {
        const k = Math.min(REQUEST_SIZE - this.scratchFill, n - pos);
        chunk.copy(this.scratch, this.scratchFill, pos, pos + k);
        this.scratchFill += k;
        pos += k;
        if (this.scratchFill < REQUEST_SIZE) break;
        this.scratchFill = 0;
        hb = this.scratch;
        ho = 0;
      }
      const h = this.header;
      readRequestHeader(hb, ho, h);
      if (h.magic !== NBD_REQUEST_MAGIC) {
        this.stop();
        this.sink.onBadMagic(h.magic);
        return;
      }
      const wantPayload = this.sink.onHeader(h);
      if (h.type !== NBD_CMD_WRITE || this.stopped) continue;
      const len = h.length;
      const avail = n - pos;
      if (!wantPayload) {
        if (avail >= len) {
          pos += len;
          this.sink.onSkipped();
        } else {
          this.skipLeft = len - avail;
          pos = n;
        }
      } else if (avail >= len) {
        const view = chunk.subarray(pos, pos + len);
        pos += len;
        this.sink.onPayload(view);
      } else {
        const buf = Buffer.allocUnsafe(len);
        chunk.copy(buf, 0, pos, n);
        this.payload = buf;
        this.payloadFill = avail;
        pos = n;
      }
    }
  }
}
