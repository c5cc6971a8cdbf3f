/**
 * A small NBD client (fixed newstyle, NBD_OPT_GO, simple replies): blockwal's own way to write to
 * a WAL device (the demo, the crash tests). Requests are pipelined: any number may be in flight
 * and each resolves on its own reply. Reads and writes longer than the server's maximum block size
 * (NBD_INFO_BLOCK_SIZE) are split into several requests.
 */
import net from 'node:net';
import {
  IHAVEOPT_HI,
  IHAVEOPT_LO,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_OPT_GO,
  NBD_REP_ACK,
  NBD_REP_INFO,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
} from '../nbd/protocol.js';

export class NbdClientError extends Error {
  constructor(
    message: string,
    readonly nbdErrno = 0,
  ) {
    super(message);
    this.name = 'NbdClientError';
  }
}

type Pending = { resolve: (b: Buffer | null) => void; reject: (e: Error) => void; readLength: number };

export class NbdClient {
  /** Export size in bytes and transmission flags, from the server. */
  size = 0;
  flags = 0;
  /** The largest request payload the server accepts (32 MiB when it does not say). */
  maxPayload = 32 * 1024 * 1024;
  private buf: Buffer = Buffer.alloc(0);
  private handle = 1;
  private readonly pending = new Map<number, Pending>();
  private phase: 'handshake' | 'transmission' | 'closed' = 'handshake';
  private waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private waitLen = 0;
  private fatal: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.die(new NbdClientError(`NBD connection: ${e.message}`)));
    socket.on('close', () => this.die(new NbdClientError('NBD connection closed')));
  }

  /** Connects to `{ socketPath }` or `{ host, port }` and opens export `name`. */
  static async connect(where: { socketPath: string } | { host: string; port: number }, name: string): Promise<NbdClient> {
    const socket = 'socketPath' in where ? net.createConnection(where.socketPath) : net.createConnection(where.port, where.host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    const c = new NbdClient(socket);
    await c.handshake(name);
    return c;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (length <= this.maxPayload) return this.request(NBD_CMD_READ, 0, offset, length, null) as Promise<Buffer>;
    const parts: Promise<Buffer | null>[] = [];
    for (let at = 0; at < length; at += this.maxPayload) parts.push(this.request(NBD_CMD_READ, 0, offset + at, Math.min(this.maxPayload, length - at), null));
    return Buffer.concat((await Promise.all(parts)) as Buffer[]);
  }

  async write(offset: number, data: Uint8Array, opts: { fua?: boolean } = {}): Promise<void> {
    const flags = opts.fua ? NBD_CMD_FLAG_FUA : 0;
    if (data.length <= this.maxPayload) {
      await this.request(NBD_CMD_WRITE, flags, offset, data.length, data);
      return;
    }
    const parts: Promise<Buffer | null>[] = [];
    for (let at = 0; at < data.length; at += this.maxPayload) {
      const part = data.subarray(at, Math.min(data.length, at + this.maxPayload));
      parts.push(this.request(NBD_CMD_WRITE, flags, offset + at, part.length, part));
    }
    await Promise.all(parts);
  }

  async flush(): Promise<void> {
    await this.request(NBD_CMD_FLUSH, 0, 0, 0, null);
  }

  async trim(offset: number, length: number, opts: { fua?: boolean } = {}): Promise<void> {
    await this.request(NBD_CMD_TRIM, opts.fua ? NBD_CMD_FLAG_FUA : 0, offset, length, null);
  }

  async writeZeroes(offset: number, length: number, opts: { fua?: boolean; noHole?: boolean } = {}): Promise<void> {
    await this.request(NBD_CMD_WRITE_ZEROES, (opts.fua ? NBD_CMD_FLAG_FUA : 0) | (opts.noHole ? NBD_CMD_FLAG_NO_HOLE : 0), offset, length, null);
  }

  /** Sends NBD_CMD_DISC once every request has its reply, then closes. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    while (this.pending.size > 0) await new Promise((r) => setTimeout(r, 1));
    this.socket.write(header(NBD_CMD_DISC, 0, 0n, 0, 0));
    this.phase = 'closed';
    this.socket.end();
  }

  /** Drops the connection without waiting. */
  destroy(): void {
    this.phase = 'closed';
    this.socket.destroy();
  }

  private request(type: number, flags: number, offset: number, length: number, data: Uint8Array | null): Promise<Buffer | null> {
    if (this.fatal) return Promise.reject(this.fatal);
    const h = this.handle++;
    return new Promise((resolve, reject) => {
      this.pending.set(h, { resolve, reject, readLength: type === NBD_CMD_READ ? length : 0 });
      this.socket.write(header(type, flags, BigInt(h), offset, length));
      if (data) this.socket.write(data);
    });
  }

  private async handshake(name: string): Promise<void> {
    const greeting = await this.take(18);
    if (greeting.readUInt32BE(0) !== 0x4e42444d || greeting.readUInt32BE(8) !== IHAVEOPT_HI || greeting.readUInt32BE(12) !== IHAVEOPT_LO) {
      throw new NbdClientError('not an NBD newstyle server');
    }
    const cf = Buffer.alloc(4);
    cf.writeUInt32BE(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    const nameBytes = Buffer.from(name, 'utf8');
    const payload = Buffer.alloc(4 + nameBytes.length + 4);
    payload.writeUInt32BE(nameBytes.length, 0);
    nameBytes.copy(payload, 4);
    payload.writeUInt16BE(1, 4 + nameBytes.length); // one information request:
    payload.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 6 + nameBytes.length);
    const opt = Buffer.alloc(16);
    opt.writeUInt32BE(IHAVEOPT_HI, 0);
    opt.writeUInt32BE(IHAVEOPT_LO, 4);
    opt.writeUInt32BE(NBD_OPT_GO, 8);
    opt.writeUInt32BE(payload.length, 12);
    this.socket.write(Buffer.concat([cf, opt, payload]));
    for (;;) {
      const rh = await this.take(20);
      const type = rh.readUInt32BE(12);
      const len = rh.readUInt32BE(16);
      const body = len > 0 ? await this.take(len) : Buffer.alloc(0);
      if (type === NBD_REP_ACK) break;
      if (type === NBD_REP_INFO && body.readUInt16BE(0) === NBD_INFO_EXPORT) {
        this.size = Number(body.readBigUInt64BE(2));
        this.flags = body.readUInt16BE(10);
      } else if (type === NBD_REP_INFO && body.readUInt16BE(0) === NBD_INFO_BLOCK_SIZE && body.length >= 14) {
        this.maxPayload = body.readUInt32BE(10);
      } else if (type >= 0x80000000) {
        throw new NbdClientError(`server refused export "${name}": ${body.toString('utf8') || `error 0x${type.toString(16)}`}`);
      }
    }
    this.phase = 'transmission';
    if (this.buf.length > 0) this.onData(Buffer.alloc(0));
  }

  private take(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.fatal) return reject(this.fatal);
      this.waiter = { resolve, reject };
      this.waitLen = n;
      this.onData(Buffer.alloc(0));
    });
  }

  private onData(d: Buffer): void {
    if (d.length > 0) this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    if (this.phase === 'handshake') {
      if (this.waiter && this.buf.length >= this.waitLen) {
        const w = this.waiter;
        const out = this.buf.subarray(0, this.waitLen);
        this.buf = this.buf.subarray(this.waitLen);
        this.waiter = null;
        w.resolve(out);
      }
      return;
    }
    while (this.buf.length >= 16) {
      if (this.buf.readUInt32BE(0) !== NBD_SIMPLE_REPLY_MAGIC) return this.die(new NbdClientError('bad reply magic'));
      const err = this.buf.readUInt32BE(4);
      const h = Number(this.buf.readBigUInt64BE(8));
      const p = this.pending.get(h);
      if (!p) return this.die(new NbdClientError(`reply to unknown handle ${h}`));
      const need = err === 0 ? p.readLength : 0;
      if (this.buf.length < 16 + need) return;
      const data = need > 0 ? Buffer.from(this.buf.subarray(16, 16 + need)) : null;
      this.buf = this.buf.subarray(16 + need);
      this.pending.delete(h);
      if (err !== 0) p.reject(new NbdClientError(`NBD error ${err}`, err));
      else p.resolve(data);
    }
  }

  private die(e: Error): void {
    if (this.fatal) return;
    this.fatal = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.waiter?.reject(e);
    this.waiter = null;
  }
}

function header(type: number, flags: number, handle: bigint, offset: number, length: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(handle, 8);
  b.writeBigUInt64BE(BigInt(offset), 16);
  b.writeUInt32BE(length, 24);
  return b;
}
