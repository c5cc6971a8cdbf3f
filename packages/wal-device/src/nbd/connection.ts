/**
 * One client connection: the handshake (delegated to Handshake), then the transmission phase —
 * requests parsed straight from socket chunks, executed concurrently against the export, replies
 * written in batches.
 *
 * Hot path rules (PERF-NOTES): a request header is parsed in place from the chunk (copied into a
 * 28-byte scratch buffer only when it straddles two chunks); a WRITE payload inside one chunk is
 * handed to the export as a view of that chunk (Node never reuses socket chunks), one spanning
 * chunks is copied once into a buffer the export then owns; request objects are pooled and carry
 * their own pre-bound completion callbacks, so a request costs no closure and no promise beyond
 * the export's; replies completed in one tick are encoded into one header buffer and written with
 * a single corked writev.
 *
 * Back-pressure: reading stops while the bytes of in-flight requests exceed maxInFlightBytes,
 * while more than maxInFlightRequests are in flight, or while more than maxQueuedReplyBytes wait
 * in the socket for a slow client; it resumes below half of each bound. At most one extra chunk
 * (and one write payload being assembled) is accepted past a bound.
 *
 * Endings: NBD_CMD_DISC, the client's EOF, a bad request magic (framing is lost) or the server's
 * shutdown all "drain": no new request is started, in-flight requests complete and their replies
 * are sent, then the socket is ended. During a server shutdown, requests that arrive before the
 * drain starts are answered ESHUTDOWN. `closed` resolves once the socket is closed and no export
 * call is outstanding.
 */
import type { Socket } from 'node:net';
import { NBD_EINVAL, NBD_EIO, NBD_ENOMEM, NBD_ENOSPC, NBD_ENOTSUP, NBD_EOVERFLOW, NBD_EPERM, NBD_ESHUTDOWN, NbdError, type NbdExport } from './export.js';
import { Handshake, type HandshakeLimits, type Session } from './handshake.js';
import {
  BLOCK_STATUS_CHUNK_SIZE,
  commandName,
  errorChunkSize,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_NONE,
  NBD_REQUEST_MAGIC,
  OFFSET_DATA_HEADER_SIZE,
  readRequestHeader,
  REQUEST_SIZE,
  SIMPLE_REPLY_SIZE,
  STRUCTURED_HEADER_SIZE,
  writeBlockStatusChunk,
  writeErrorChunk,
  writeOffsetDataHeader,
  writeSimpleReply,
  writeStructuredHeader,
  type RequestHeader,
} from './protocol.js';
import { checkRequest, type Rejection, type RequestContext } from './request-check.js';
import type { NbdExportStats } from './stats.js';
import type { NbdExportProvider } from './export.js';

export type NbdLogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Optional log sink; the server logs nothing unless given one. Messages are constant, data is in fields. */
export type NbdLogger = (level: NbdLogLevel, message: string, fields: Record<string, unknown>) => void;

export interface ConnectionLimits {
  /** Bytes of READ/WRITE requests in flight (and write payloads being received) before reading pauses. */
  maxInFlightBytes: number;
  /** Requests in flight before reading pauses. */
  maxInFlightRequests: number;
  /** Reply bytes queued in the socket (client not reading) before reading pauses. */
  maxQueuedReplyBytes: number;
  /** A client must finish option haggling within this time (0: no limit). */
  handshakeTimeoutMs: number;
  /** After the server ends a connection, how long the client gets to take the last bytes. */
  closeTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxInFlightBytes: 64 * 1024 * 1024,
  maxInFlightRequests: 4096,
  maxQueuedReplyBytes: 64 * 1024 * 1024,
  handshakeTimeoutMs: 30_000,
  closeTimeoutMs: 10_000,
};

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly provider: NbdExportProvider;
  readonly limits: ConnectionLimits;
  readonly handshakeLimits: Partial<HandshakeLimits>;
  readonly logger: NbdLogger | undefined;
  isShuttingDown(): boolean;
  statsFor(exportName: string): NbdExportStats;
  connectionClosed(conn: NbdConnection): void;
}

const VALID_ERRNOS = new Set([NBD_EPERM, NBD_EIO, NBD_ENOMEM, NBD_EINVAL, NBD_ENOSPC, NBD_EOVERFLOW, NBD_ENOTSUP, NBD_ESHUTDOWN]);
const MAX_MESSAGE_CHARS = 400;

/** The NBD error for anything an export throws: its nbdErrno, a mapped Node error code, else EIO. */
export function nbdErrnoOf(err: unknown): number {
  if (err !== null && typeof err === 'object') {
    const n = (err as { nbdErrno?: unknown }).nbdErrno;
    if (typeof n === 'number' && VALID_ERRNOS.has(n)) return n;
    switch ((err as { code?: unknown }).code) {
      case 'ENOSPC':
      case 'EDQUOT':
      case 'EFBIG':
        return NBD_ENOSPC;
      case 'EPERM':
      case 'EACCES':
      case 'EROFS':
        return NBD_EPERM;
      case 'ENOMEM':
        return NBD_ENOMEM;
      case 'EINVAL':
        return NBD_EINVAL;
      case 'ENOTSUP':
      case 'EOPNOTSUPP':
        return NBD_ENOTSUP;
      case 'ESHUTDOWN':
        return NBD_ESHUTDOWN;
    }
  }
  return NBD_EIO;
}

/** One request from header to reply; pooled per connection. */
class Req {
  type = 0;
  flags = 0;
  handleHi = 0;
  handleLo = 0;
  offset = 0;
  length = 0;
  /** Bytes counted against maxInFlightBytes while in flight. */
  cost = 0;
  error = 0;
  message = '';
  data: Uint8Array | undefined = undefined;
  readonly onOk: (value: unknown) => void;
  readonly onErr: (err: unknown) => void;

  constructor(conn: NbdConnection) {
    this.onOk = (value) => conn.settle(this, value);
    this.onErr = (err) => conn.fail(this, err);
  }
}

const MAX_POOLED_REQS = 1024;
const EMPTY = new Uint8Array(0);

let nextConnectionId = 1;

export class NbdConnection {
  readonly id = nextConnectionId++;
  /** Resolves when the socket is closed and no export call of this connection is outstanding. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  private phase: 'handshake' | 'transmission' | 'draining' | 'ending' = 'handshake';
  private handshake: Handshake | undefined;
  private session: Session | undefined;
  private ctx: RequestContext | undefined;
  private exp: NbdExport | undefined;
  private stats: NbdExportStats | undefined;
  private socketClosed = false;
  private finalized = false;
  private timer: NodeJS.Timeout | undefined;

  // transmission parser
  private readonly hdr = Buffer.allocUnsafe(REQUEST_SIZE);
  private hdrFill = 0;
  private readonly h: RequestHeader = { magic: 0, flags: 0, type: 0, handleHi: 0, handleLo: 0, offset: 0, length: 0 };
  private payloadReq: Req | undefined;
  private payloadBuf: Buffer | undefined;
  private payloadFill = 0;
  private discardReq: Req | undefined;
  private discardLeft = 0;
  private readonly why: Rejection = { reason: '' };

  // in flight and replies
  private inFlight = 0;
  private inFlightBytes = 0;
  private paused = false;
  private replyQueue: Req[] = [];
  private flushScheduled = false;
  private readonly pool: Req[] = [];
  private readonly flushBound = () => this.flush();

  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** The export name once in transmission. */
  get exportName(): string | undefined {
    return this.exp?.name;
  }

  start(): void {
    const s = this.socket;
    this.handshake = new Handshake({
      provider: this.host.provider,
      limits: this.host.handshakeLimits,
      shuttingDown: () => this.host.isShuttingDown(),
      onInternalError: (err, what) => this.log('error', what, { err }),
    });
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('end', () => this.onEnd());
    s.on('error', (err) => this.log('debug', 'socket error', { err }));
    s.on('close', () => this.onClose());
    s.on('drain', () => this.updateFlow());
    if (this.host.limits.handshakeTimeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.log('debug', 'handshake timeout', {});
        this.endSocket();
      }, this.host.limits.handshakeTimeoutMs);
      this.timer.unref();
    }
    s.write(this.handshake.greeting());
  }

  /** The server is shutting down: close a connection in handshake, drain one in transmission. */
  shutdown(): void {
    if (this.phase === 'handshake') this.endSocket();
    else if (this.phase === 'transmission' && this.inFlight === 0) this.beginDrain('server shutting down');
    // Otherwise the last completion starts the drain (see afterFlush).
  }

  /** Forcibly closes the socket (close timeout of the server). */
  destroy(): void {
    this.socket.destroy();
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void {
    const logger = this.host.logger;
    if (logger) logger(level, message, { conn: this.id, export: this.exp?.name, ...fields });
  }

  // ------------------------------------------------------------------ input

  private onData(chunk: Buffer): void {
    if (this.phase === 'transmission') this.parse(chunk);
    else if (this.phase === 'handshake') this.onHandshakeData(chunk);
    // draining/ending: the client must not send more; ignore it.
  }

  private onHandshakeData(chunk: Buffer): void {
    const out: Buffer[] = [];
    const r = this.handshake!.feed(chunk, out);
    for (const b of out) this.socket.write(b);
    if (r.kind === 'more') return;
    if (r.kind === 'close') {
      this.log(r.graceful ? 'debug' : 'info', 'handshake ended', { reason: r.reason });
      this.endSocket();
      return;
    }
    this.enterTransmission(r.session);
    if (r.rest.length > 0) this.parse(r.rest);
  }

  private enterTransmission(session: Session): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.handshake = undefined;
    this.session = session;
    this.exp = session.export;
    this.ctx = { limits: session.limits, readOnly: session.export.readOnly, structured: session.structured, metaContextId: session.metaContextId };
    this.stats = this.host.statsFor(session.export.name);
    this.stats.connections++;
    this.stats.connectionsTotal++;
    this.phase = 'transmission';
    this.log('debug', 'transmission', { structured: session.structured, flags: session.transmissionFlags });
    if (this.host.isShuttingDown()) this.shutdown();
  }

  private onEnd(): void {
    if (this.phase === 'handshake') this.endSocket();
    else if (this.phase === 'transmission') this.beginDrain('client closed its side');
  }

  private onClose(): void {
    this.socketClosed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dropPartialRequest();
    if (this.phase === 'transmission') this.phase = 'draining';
    this.maybeFinalize();
  }

  /** Parses requests from one chunk of the byte stream. */
  private parse(chunk: Buffer): void {
    const n = chunk.length;
    let pos = 0;
    while (pos < n && this.phase === 'transmission') {
      if (this.discardLeft > 0) {
        const k = Math.min(this.discardLeft, n - pos);
        this.discardLeft -= k;
        pos += k;
        if (this.discardLeft === 0) {
          const req = this.discardReq!;
          this.discardReq = undefined;
          this.queue(req);
        }
        continue;
      }
      if (this.payloadReq !== undefined) {
        const buf = this.payloadBuf!;
        const k = Math.min(buf.length - this.payloadFill, n - pos);
        chunk.copy(buf, this.payloadFill, pos, pos + k);
        this.payloadFill += k;
        pos += k;
        if (this.payloadFill === buf.length) {
          const req = this.payloadReq;
          this.payloadReq = undefined;
          this.payloadBuf = undefined;
          this.inFlightBytes -= req.length; // re-added by execute()
          this.execute(req, buf);
        }
        continue;
      }
      let hb: Buffer;
      let ho: number;
      if (this.hdrFill === 0 && n - pos >= REQUEST_SIZE) {
        hb = chunk;
        ho = pos;
        pos += REQUEST_SIZE;
      } else {
        const k = Math.min(REQUEST_SIZE - this.hdrFill, n - pos);
        chunk.copy(this.hdr, this.hdrFill, pos, pos + k);
        this.hdrFill += k;
        pos += k;
        if (this.hdrFill < REQUEST_SIZE) break;
        this.hdrFill = 0;
        hb = this.hdr;
        ho = 0;
      }
      readRequestHeader(hb, ho, this.h);
      if (this.h.magic !== NBD_REQUEST_MAGIC) {
        this.log('info', 'bad request magic, closing', { magic: this.h.magic });
        this.beginDrain('bad request magic');
        return;
      }
      pos = this.onRequest(chunk, pos);
    }
    this.updateFlow();
  }

  /** Handles the request in this.h whose header ends at `pos`; returns the new position. */
  private onRequest(chunk: Buffer, pos: number): number {
    const h = this.h;
    if (h.type === NBD_CMD_DISC) {
      this.beginDrain('client sent NBD_CMD_DISC');
      return chunk.length;
    }
    const stats = this.stats!;
    stats.requests++;
    const req = this.allocReq(h);
    let err: number;
    if (this.host.isShuttingDown()) {
      err = NBD_ESHUTDOWN;
      this.why.reason = 'server is shutting down';
    } else {
      err = checkRequest(this.ctx!, h.type, h.flags, h.offset, h.length, this.why);
    }
    switch (h.type) {
      case NBD_CMD_READ: stats.reads++; break;
      case NBD_CMD_WRITE: stats.writes++; break;
      case NBD_CMD_FLUSH: stats.flushes++; break;
      case NBD_CMD_TRIM: stats.trims++; break;
      case NBD_CMD_WRITE_ZEROES: stats.writeZeroes++; break;
    }
    if (err !== 0) {
      req.error = err;
      req.message = `${commandName(h.type)}: ${this.why.reason}`;
      stats.errors++;
      this.log('debug', 'request rejected', { cmd: commandName(h.type), offset: h.offset, length: h.length, errno: err, reason: this.why.reason });
    }
    if (h.type !== NBD_CMD_WRITE) {
      if (err !== 0) this.queue(req);
      else this.execute(req, undefined);
      return pos;
    }
    const avail = chunk.length - pos;
    if (err !== 0) {
      // The payload must still be consumed to keep the framing; it is skipped, never buffered.
      if (avail >= h.length) {
        this.queue(req);
        return pos + h.length;
      }
      this.discardReq = req;
      this.discardLeft = h.length - avail;
      return chunk.length;
    }
    if (avail >= h.length) {
      this.execute(req, chunk.subarray(pos, pos + h.length));
      return pos + h.length;
    }
    const buf = Buffer.allocUnsafe(h.length);
    chunk.copy(buf, 0, pos, chunk.length);
    this.payloadBuf = buf;
    this.payloadFill = avail;
    this.payloadReq = req;
    this.inFlightBytes += h.length;
    return chunk.length;
  }

  private dropPartialRequest(): void {
    if (this.payloadReq) {
      this.inFlightBytes -= this.payloadReq.length;
      this.releaseReq(this.payloadReq);
    }
    if (this.discardReq) this.releaseReq(this.discardReq);
    this.payloadReq = undefined;
    this.payloadBuf = undefined;
    this.discardReq = undefined;
    this.discardLeft = 0;
    this.hdrFill = 0;
  }

  // ------------------------------------------------------------------ execution

  private allocReq(h: RequestHeader): Req {
    const req = this.pool.pop() ?? new Req(this);
    req.type = h.type;
    req.flags = h.flags;
    req.handleHi = h.handleHi;
    req.handleLo = h.handleLo;
    req.offset = h.offset;
    req.length = h.length;
    req.error = 0;
    req.cost = 0;
    return req;
  }

  private releaseReq(req: Req): void {
    req.data = undefined;
    req.message = '';
    if (this.pool.length < MAX_POOLED_REQS) this.pool.push(req);
  }

  private execute(req: Req, data: Uint8Array | undefined): void {
    const exp = this.exp!;
    const fua = (req.flags & NBD_CMD_FLAG_FUA) !== 0;
    req.cost = req.type === NBD_CMD_READ || req.type === NBD_CMD_WRITE ? req.length : 0;
    this.inFlight++;
    this.inFlightBytes += req.cost;
    let p: unknown;
    try {
      switch (req.type) {
        case NBD_CMD_READ:
          p = req.length === 0 ? EMPTY : exp.read(req.offset, req.length);
          break;
        case NBD_CMD_WRITE:
          p = req.length === 0 ? undefined : exp.write(req.offset, data!, fua);
          break;
        case NBD_CMD_FLUSH:
          p = exp.flush();
          break;
        case NBD_CMD_TRIM:
          p = req.length === 0 ? undefined : exp.trim(req.offset, req.length, fua);
          break;
        case NBD_CMD_WRITE_ZEROES:
          p = req.length === 0 ? undefined : exp.writeZeroes(req.offset, req.length, { fua, noHole: (req.flags & NBD_CMD_FLAG_NO_HOLE) !== 0 });
          break;
        default: // CACHE (a hint) and BLOCK_STATUS (everything is data) need no export call
          p = undefined;
      }
    } catch (err) {
      this.fail(req, err);
      return;
    }
    if (p !== null && typeof p === 'object' && typeof (p as PromiseLike<unknown>).then === 'function') {
      (p as PromiseLike<unknown>).then(req.onOk, req.onErr);
    } else {
      this.settle(req, p);
    }
  }

  /** An export call succeeded (called through Req.onOk). */
  settle(req: Req, value: unknown): void {
    this.inFlight--;
    this.inFlightBytes -= req.cost;
    const stats = this.stats!;
    switch (req.type) {
      case NBD_CMD_READ:
        if (value instanceof Uint8Array && value.length === req.length) {
          req.data = value;
          stats.bytesRead += req.length;
        } else {
          req.error = NBD_EIO;
          req.message = 'READ: internal error';
          stats.errors++;
          this.log('error', 'export read returned a wrong result', { offset: req.offset, length: req.length, got: value instanceof Uint8Array ? value.length : typeof value });
        }
        break;
      case NBD_CMD_WRITE:
        stats.bytesWritten += req.length;
        break;
      case NBD_CMD_TRIM:
      case NBD_CMD_WRITE_ZEROES:
        stats.bytesZeroedOrTrimmed += req.length;
        break;
    }
    this.queue(req);
  }

  /** An export call failed (called through Req.onErr or when the call threw). */
  fail(req: Req, err: unknown): void {
    this.inFlight--;
    this.inFlightBytes -= req.cost;
    req.error = nbdErrnoOf(err);
    // Only an NbdError's own message reaches the client; anything else could leak internals.
    const detail = err instanceof NbdError ? err.message : 'failed';
    req.message = `${commandName(req.type)}: ${detail}`;
    this.stats!.errors++;
    this.log('warn', 'export operation failed', { cmd: commandName(req.type), offset: req.offset, length: req.length, errno: req.error, err });
    this.queue(req);
  }

  // ------------------------------------------------------------------ output

  private queue(req: Req): void {
    this.replyQueue.push(req);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushBound);
    }
  }

  /** Writes every reply queued in this tick: one header buffer, one corked writev. */
  private flush(): void {
    this.flushScheduled = false;
    const reqs = this.replyQueue;
    this.replyQueue = [];
    const s = this.socket;
    if (this.socketClosed || s.destroyed || !s.writable) {
      for (const r of reqs) this.releaseReq(r);
      this.afterFlush();
      return;
    }
    const structured = this.ctx!.structured;
    const metaId = this.ctx!.metaContextId;
    let total = 0;
    const messages: (Buffer | undefined)[] = [];
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      let m: Buffer | undefined;
      if (r.error !== 0) {
        if (structured) {
          m = Buffer.from(r.message.length > MAX_MESSAGE_CHARS ? r.message.slice(0, MAX_MESSAGE_CHARS) : r.message, 'utf8');
          total += errorChunkSize(m.length);
        } else total += SIMPLE_REPLY_SIZE;
      } else if (r.type === NBD_CMD_READ && structured) {
        total += r.length > 0 ? OFFSET_DATA_HEADER_SIZE : STRUCTURED_HEADER_SIZE;
      } else if (r.type === NBD_CMD_BLOCK_STATUS) {
        total += BLOCK_STATUS_CHUNK_SIZE;
      } else total += SIMPLE_REPLY_SIZE;
      messages.push(m);
    }
    const hb = Buffer.allocUnsafe(total);
    const parts: Uint8Array[] = [];
    let seg = 0;
    let pos = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      if (r.error !== 0) {
        if (structured) {
          const m = messages[i]!;
          writeErrorChunk(hb, pos, r.handleHi, r.handleLo, r.error, m);
          pos += errorChunkSize(m.length);
        } else {
          writeSimpleReply(hb, pos, r.error, r.handleHi, r.handleLo);
          pos += SIMPLE_REPLY_SIZE;
        }
      } else if (r.type === NBD_CMD_READ) {
        if (structured) {
          if (r.length > 0) {
            writeOffsetDataHeader(hb, pos, r.handleHi, r.handleLo, r.offset, r.length);
            pos += OFFSET_DATA_HEADER_SIZE;
          } else {
            writeStructuredHeader(hb, pos, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, r.handleHi, r.handleLo, 0);
            pos += STRUCTURED_HEADER_SIZE;
          }
        } else {
          writeSimpleReply(hb, pos, 0, r.handleHi, r.handleLo);
          pos += SIMPLE_REPLY_SIZE;
        }
        if (r.length > 0) {
          parts.push(hb.subarray(seg, pos), r.data!);
          seg = pos;
        }
      } else if (r.type === NBD_CMD_BLOCK_STATUS) {
        writeBlockStatusChunk(hb, pos, r.handleHi, r.handleLo, metaId, r.length, 0);
        pos += BLOCK_STATUS_CHUNK_SIZE;
      } else {
        writeSimpleReply(hb, pos, 0, r.handleHi, r.handleLo);
        pos += SIMPLE_REPLY_SIZE;
      }
      this.releaseReq(r);
    }
    if (seg < pos) parts.push(hb.subarray(seg, pos));
    if (parts.length === 1) s.write(parts[0]!);
    else {
      s.cork();
      for (const p of parts) s.write(p);
      s.uncork();
    }
    this.afterFlush();
  }

  private afterFlush(): void {
    if (this.phase === 'transmission') {
      if (this.inFlight === 0 && this.host.isShuttingDown()) this.beginDrain('server shutting down');
      else this.updateFlow();
    }
    if (this.phase === 'draining') this.maybeEnd();
    this.maybeFinalize();
  }

  /** Pauses or resumes reading according to the in-flight and queued-reply bounds. */
  private updateFlow(): void {
    if (this.phase !== 'transmission') return;
    const lim = this.host.limits;
    const queued = this.socket.writableLength;
    if (!this.paused) {
      if (this.inFlightBytes > lim.maxInFlightBytes || this.inFlight >= lim.maxInFlightRequests || queued > lim.maxQueuedReplyBytes) {
        this.paused = true;
        this.socket.pause();
      }
    } else if (this.inFlightBytes <= lim.maxInFlightBytes / 2 && this.inFlight <= lim.maxInFlightRequests / 2 && queued <= lim.maxQueuedReplyBytes / 2) {
      this.paused = false;
      this.socket.resume();
    }
  }

  // ------------------------------------------------------------------ endings

  /** Stops taking requests; in-flight ones complete and are answered, then the socket ends. */
  private beginDrain(reason: string): void {
    if (this.phase !== 'transmission') return;
    this.phase = 'draining';
    this.log('debug', 'draining', { reason, inFlight: this.inFlight });
    this.dropPartialRequest();
    // Keep reading (and ignoring) so the client's EOF and close are seen.
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.phase === 'draining' && this.inFlight === 0 && this.replyQueue.length === 0 && !this.flushScheduled) this.endSocket();
  }

  /** Ends our side after the queued bytes are written, then closes; forced after closeTimeoutMs. */
  private endSocket(): void {
    if (this.phase === 'ending') return;
    this.phase = 'ending';
    if (this.timer) clearTimeout(this.timer);
    const s = this.socket;
    if (this.socketClosed || s.destroyed) return;
    this.timer = setTimeout(() => s.destroy(), this.host.limits.closeTimeoutMs);
    this.timer.unref();
    s.end(() => s.destroy());
  }

  private maybeFinalize(): void {
    if (this.finalized || !this.socketClosed || this.inFlight !== 0) return;
    this.finalized = true;
    this.replyQueue = [];
    if (this.stats && this.session) this.stats.connections--;
    this.host.connectionClosed(this);
    this.resolveClosed();
  }
}
