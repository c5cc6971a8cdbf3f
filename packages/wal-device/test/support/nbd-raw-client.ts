/**
 * A small NBD client over node:net for tests: byte-exact control of what is sent (so tests can
 * send bad things), handshake helpers, and a pipelined transmission client that matches replies
 * (simple or structured, in any order) to requests by handle.
 */
import { connect, type Socket } from 'node:net';
import * as P from '../../src/nbd/protocol.js';

export type Endpoint = { path: string } | { host: string; port: number };

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export interface Reply {
  error: number;
  /** READ data (joined from the chunks of a structured reply). */
  data?: Buffer;
  /** Error message of a structured error chunk. */
  message?: string;
  /** Every structured chunk, for tests of the framing. */
  chunks: { flags: number; type: number; payload: Buffer }[];
  structured: boolean;
}

interface Pending {
  type: number;
  offset: number;
  length: number;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  reply: Reply;
}

export class ClosedError extends Error {
  constructor() {
    super('connection closed');
  }
}

export class RawNbdClient {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  readonly closed: Promise<void>;
  private pending = new Map<bigint, Pending>();
  private nextHandle = 1n;
  private pumping = false;
  structured = false;

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.have += c.length;
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  static connect(ep: Endpoint): Promise<RawNbdClient> {
    return new Promise((resolve, reject) => {
      const s = connect(ep as never);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawNbdClient(s));
      });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.have >= w.n) {
      this.waiter = undefined;
      w.resolve(this.take(w.n));
    } else if (this.ended) {
      this.waiter = undefined;
      w.reject(new ClosedError());
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.have -= n;
    return out;
  }

  /** Exactly n bytes; rejects with ClosedError when the connection ends first. */
  read(n: number): Promise<Buffer> {
    if (this.waiter) throw new Error('concurrent read');
    if (this.have >= n) return Promise.resolve(this.take(n));
    if (this.ended) return Promise.reject(new ClosedError());
    return new Promise((resolve, reject) => (this.waiter = { n, resolve, reject }));
  }

  /** Resolves true when the server closes the connection within ms (buffered data is ignored). */
  async closedWithin(ms: number): Promise<boolean> {
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.closed.then(() => true), new Promise<boolean>((res) => (t = setTimeout(() => res(false), ms)))]);
    clearTimeout(t);
    return r;
  }

  private held: Buffer[] | undefined;

  send(b: Uint8Array): void {
    if (this.held) this.held.push(Buffer.from(b));
    else this.socket.write(b);
  }

  /** Collects what is sent until releaseSends(). */
  holdSends(): void {
    this.held ??= [];
  }

  /**
   * Sends what was held in pieces of the given sizes (cycled), yielding to the event loop between
   * pieces so the server sees them as separate reads (headers and payloads straddle chunks).
   */
  async releaseSends(pieces: readonly number[]): Promise<void> {
    const all = Buffer.concat(this.held ?? []);
    this.held = undefined;
    let pos = 0;
    let i = 0;
    while (pos < all.length) {
      const n = pieces.length ? Math.max(1, pieces[i++ % pieces.length]!) : all.length;
      this.socket.write(all.subarray(pos, pos + n));
      pos += n;
      await new Promise((r) => setImmediate(r));
    }
  }

  close(): void {
    this.socket.destroy();
  }

  // ------------------------------------------------------------ handshake

  /** Reads the greeting and returns the handshake flags. */
  async greeting(): Promise<number> {
    const g = await this.read(P.GREETING_SIZE);
    if (g.readUInt32BE(0) !== P.NBD_MAGIC_HI || g.readUInt32BE(8) !== P.IHAVEOPT_HI) throw new Error('bad greeting');
    return g.readUInt16BE(16);
  }

  sendClientFlags(flags: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(flags >>> 0, 0);
    this.send(b);
  }

  /** Greeting plus client flags (fixed newstyle, no zeroes by default). */
  async start(clientFlags = P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES): Promise<void> {
    await this.greeting();
    this.sendClientFlags(clientFlags);
  }

  sendOption(option: number, data?: Uint8Array): void {
    this.send(P.encodeOption(option, data));
  }

  async readOptionReply(): Promise<OptionReply> {
    const h = P.parseOptionReplyHeader(await this.read(P.OPTION_REPLY_HEADER_SIZE));
    if (!h.magicOk) throw new Error('bad option reply magic');
    const data = h.length ? await this.read(h.length) : Buffer.alloc(0);
    return { option: h.option, type: h.type, data };
  }

  /** Sends an option and collects replies up to the final one (ACK or an error). */
  async option(option: number, data?: Uint8Array): Promise<OptionReply[]> {
    this.sendOption(option, data);
    const out: OptionReply[] = [];
    for (;;) {
      const r = await this.readOptionReply();
      out.push(r);
      if (r.type === P.NBD_REP_ACK || (r.type & 0x80000000) !== 0) return out;
    }
  }

  /** Full negotiation to transmission with NBD_OPT_GO; returns size and transmission flags. */
  async go(name: string, opts: { structured?: boolean; metaContext?: boolean } = {}): Promise<{ size: number; flags: number; replies: OptionReply[] }> {
    await this.start();
    return this.negotiate(name, opts);
  }

  /** Like go() after start() was already done. */
  async negotiate(name: string, opts: { structured?: boolean; metaContext?: boolean } = {}): Promise<{ size: number; flags: number; replies: OptionReply[] }> {
    if (opts.structured) {
      const r = await this.option(P.NBD_OPT_STRUCTURED_REPLY);
      if (r.at(-1)!.type !== P.NBD_REP_ACK) throw new Error('structured replies refused');
      this.structured = true;
    }
    if (opts.metaContext) {
      const r = await this.option(P.NBD_OPT_SET_META_CONTEXT, P.encodeMetaContextRequest(name, [P.BASE_ALLOCATION]));
      if (r.at(-1)!.type !== P.NBD_REP_ACK) throw new Error('meta context refused');
    }
    const replies = await this.option(P.NBD_OPT_GO, P.encodeInfoRequest(name, [P.NBD_INFO_BLOCK_SIZE]));
    const last = replies.at(-1)!;
    if (last.type !== P.NBD_REP_ACK) throw new Error(`GO failed: 0x${last.type.toString(16)} ${last.data.toString()}`);
    const info = replies.find((r) => r.type === P.NBD_REP_INFO && r.data.readUInt16BE(0) === P.NBD_INFO_EXPORT)!;
    return { size: P.readU64BE(info.data, 2), flags: info.data.readUInt16BE(10), replies };
  }

  // ------------------------------------------------------------ transmission

  /** Sends a request without waiting; the reply promise is matched by handle. */
  request(type: number, offset: number, length: number, opts: { flags?: number; data?: Uint8Array } = {}): Promise<Reply> {
    const handle = this.nextHandle++;
    const p = new Promise<Reply>((resolve, reject) => {
      this.pending.set(handle, { type, offset, length, resolve, reject, reply: { error: 0, chunks: [], structured: false } });
    });
    this.send(P.encodeRequest(type, opts.flags ?? 0, handle, offset, length, opts.data));
    this.pump();
    return p;
  }

  read_(offset: number, length: number, flags = 0): Promise<Reply> {
    return this.request(P.NBD_CMD_READ, offset, length, { flags });
  }

  write(offset: number, data: Uint8Array, flags = 0): Promise<Reply> {
    return this.request(P.NBD_CMD_WRITE, offset, data.length, { flags, data });
  }

  disconnect(): void {
    this.send(P.encodeRequest(P.NBD_CMD_DISC, 0, 0n, 0, 0));
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pumpLoop();
  }

  private async pumpLoop(): Promise<void> {
    try {
      while (this.pending.size > 0) await this.readReply();
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    } finally {
      this.pumping = false;
    }
  }

  private async readReply(): Promise<void> {
    const magic = (await this.read(4)).readUInt32BE(0);
    if (magic === P.NBD_SIMPLE_REPLY_MAGIC) {
      const rest = await this.read(12);
      const error = rest.readUInt32BE(0);
      const handle = rest.readBigUInt64BE(4);
      const p = this.pending.get(handle);
      if (!p) throw new Error(`simple reply for unknown handle ${handle}`);
      this.pending.delete(handle);
      const reply = p.reply;
      reply.error = error;
      if (p.type === P.NBD_CMD_READ && error === 0) reply.data = p.length ? await this.read(p.length) : Buffer.alloc(0);
      p.resolve(reply);
      return;
    }
    if (magic !== P.NBD_STRUCTURED_REPLY_MAGIC) throw new Error(`bad reply magic 0x${magic.toString(16)}`);
    const rest = await this.read(16);
    const flags = rest.readUInt16BE(0);
    const type = rest.readUInt16BE(2);
    const handle = rest.readBigUInt64BE(4);
    const length = rest.readUInt32BE(12);
    const payload = length ? await this.read(length) : Buffer.alloc(0);
    const p = this.pending.get(handle);
    if (!p) throw new Error(`structured reply for unknown handle ${handle}`);
    const reply = p.reply;
    reply.structured = true;
    reply.chunks.push({ flags, type, payload });
    if (type === P.NBD_REPLY_TYPE_OFFSET_DATA) {
      const off = P.readU64BE(payload, 0);
      if (!reply.data) reply.data = Buffer.alloc(p.length);
      payload.copy(reply.data, off - p.offset, 8);
    } else if (type & 0x8000) {
      reply.error = payload.readUInt32BE(0);
      const ml = payload.readUInt16BE(4);
      reply.message = payload.subarray(6, 6 + ml).toString('utf8');
    }
    if (flags & P.NBD_REPLY_FLAG_DONE) {
      this.pending.delete(handle);
      if (p.type === P.NBD_CMD_READ && reply.error === 0 && !reply.data) reply.data = Buffer.alloc(0);
      p.resolve(reply);
    }
  }
}
