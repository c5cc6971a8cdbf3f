/**
 * One client connection: the handshake (Handshake), then the transmission phase: requests parsed
 * straight from socket chunks (RequestParser), validated (checkRequest), executed concurrently
 * against the export, replies written in batches (encodeReplyBatch).
 *
 * Hot path (PERF-NOTES): request objects are pooled and carry their own pre-bound completion
 * callbacks, so a request costs no closure and no promise beyond the export's own. Replies
 * completed in one tick go out as one header buffer plus the read data, in a single corked
 * writev scheduled with process.nextTick.
 *
 * Back-pressure: reading stops while the bytes of in-flight READ/WRITE requests (plus a payload
 * being received) exceed maxInFlightBytes, while maxInFlightRequests are in flight, or while more
 * than maxQueuedReplyBytes wait in the socket for a slow client. It resumes below half of each
 * bound, so at most one more chunk of requests is accepted past a bound.
 *
 * Endings: NBD_CMD_DISC, the client's EOF, a bad request magic (framing is lost) and the server's
 * shutdown all "drain": no new request starts, in-flight requests complete and are answered,
 * then the socket is ended (and destroyed after closeTimeoutMs if the client does not take the
 * bytes). During a server shutdown, requests that arrive before the drain starts are answered
 * ESHUTDOWN. `closed` resolves once the socket is closed and no export call is outstanding.
 */
import type { Socket } from 'node:net';
import type { BufferPool } from './buffer-pool.js';
import { nbdErrnoOf } from './error-map.js';
import { NBD_EIO, NBD_ESHUTDOWN, NbdError, type NbdExport, type NbdExportProvider } from './export.js';
import { Handshake, type HandshakeLimits, type Session } from './handshake.js';
import {
  commandName,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  type RequestHeader,
} from './protocol.js';
import { encodeReplyBatch, type ReplySlot } from './reply-batch.js';
import { RequestParser, type RequestSink } from './request-parser.js';
import { checkRequest, type Rejection, type RequestContext } from './request-check.js';
import type { NbdExportStats } from './stats.js';

export { nbdErrnoOf }; // re-exported here for the package index

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
  /** Buffers lent to NbdExport.readInto. */
  readonly readPool: BufferPool;
}

/** One request from header to reply; pooled per connection. */
class Req implements ReplySlot {
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
  /** The pool buffer behind `data` (readInto), returned once the reply is written. */
  pooled: Buffer | undefined = undefined;
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

  // transmission
  private readonly parser: RequestParser;
  /** The WRITE whose payload the parser is delivering or skipping. */
  private pendingWrite: Req | undefined;
  private readonly why: Rejection = { reason: '' };

  // in flight and replies
  private inFlight = 0;
  private inFlightBytes = 0;
  private paused = false;
  private replyQueue: Req[] = [];
  private flushScheduled = false;
  private readonly reqPool: Req[] = [];
  private readonly flushBound = () => this.flush();

  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    const sink: RequestSink = {
      onHeader: (h) => this.onHeader(h),
      onPayload: (data) => this.onPayload(data),
      onSkipped: () => this.onSkipped(),
      onBadMagic: (magic) => this.onBadMagic(magic),
    };
    this.parser = new RequestParser(sink);
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
    this.parser.feed(chunk);
    this.updateFlow();
  }

  // ------------------------------------------------------------------ parser events

  private onHeader(h: RequestHeader): boolean {
    if (h.type === NBD_CMD_DISC) {
      this.beginDrain('client sent NBD_CMD_DISC');
      return false;
    }
    const stats = this.stats!;
    stats.requests++;
    switch (h.type) {
      case NBD_CMD_READ: stats.reads++; break;
      case NBD_CMD_WRITE: stats.writes++; break;
      case NBD_CMD_FLUSH: stats.flushes++; break;
      case NBD_CMD_TRIM: stats.trims++; break;
      case NBD_CMD_WRITE_ZEROES: stats.writeZeroes++; break;
    }
    const req = this.allocReq(h);
    let err: number;
    if (this.host.isShuttingDown()) {
      err = NBD_ESHUTDOWN;
      this.why.reason = 'server is shutting down';
    } else {
      err = checkRequest(this.ctx!, h.type, h.flags, h.offset, h.length, this.why);
    }
    if (err !== 0) {
      req.error = err;
      req.message = `${commandName(h.type)}: ${this.why.reason}`;
      stats.errors++;
      this.log('debug', 'request rejected', { cmd: commandName(h.type), offset: h.offset, length: h.length, errno: err, reason: this.why.reason });
    }
    if (h.type === NBD_CMD_WRITE) {
      this.pendingWrite = req; // answered once its payload has arrived or been skipped
      return err === 0;
    }
    if (err !== 0) this.queue(req);
    else this.execute(req, undefined);
    return false;
  }

  private onPayload(data: Buffer): void {
    const req = this.pendingWrite!;
    this.pendingWrite = undefined;
    this.execute(req, data);
  }

  private onSkipped(): void {
    const req = this.pendingWrite!;
    this.pendingWrite = undefined;
    this.queue(req);
  }

  private onBadMagic(magic: number): void {
    this.log('info', 'bad request magic, closing', { magic });
    this.beginDrain('bad request magic');
  }

  private dropPartialRequest(): void {
    this.parser.stop();
    if (this.pendingWrite) this.releaseReq(this.pendingWrite);
    this.pendingWrite = undefined;
  }

  // ------------------------------------------------------------------ execution

  private allocReq(h: RequestHeader): Req {
    const req = this.reqPool.pop() ?? new Req(this);
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
    req.pooled = undefined;
    req.message = '';
    if (this.reqPool.length < MAX_POOLED_REQS) this.reqPool.push(req);
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
          if (req.length === 0) p = EMPTY;
          else if (exp.readInto) {
            const base = this.host.readPool.acquire(req.length);
            req.pooled = base;
            req.data = base.subarray(0, req.length);
            p = exp.readInto(req.offset, req.data);
          } else p = exp.read(req.offset, req.length);
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

  /** An export call succeeded (called through Req.onOk). @internal */
  settle(req: Req, value: unknown): void {
    this.inFlight--;
    this.inFlightBytes -= req.cost;
    const stats = this.stats!;
    switch (req.type) {
      case NBD_CMD_READ:
        if (req.pooled) {
          stats.bytesRead += req.length; // readInto filled req.data
        } else if (value instanceof Uint8Array && value.length === req.length) {
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

  /** An export call failed (called through Req.onErr or when the call threw). @internal */
  fail(req: Req, err: unknown): void {
    this.inFlight--;
    this.inFlightBytes -= req.cost;
    if (req.pooled) {
      this.host.readPool.release(req.pooled);
      req.pooled = undefined;
      req.data = undefined;
    }
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
    const pool = this.host.readPool;
    if (this.socketClosed || s.destroyed || !s.writable) {
      for (const r of reqs) {
        if (r.pooled) pool.release(r.pooled);
        this.releaseReq(r);
      }
      this.afterFlush();
      return;
    }
    const parts = encodeReplyBatch(reqs, this.ctx!.structured, this.ctx!.metaContextId);
    let lent: Buffer[] | undefined;
    for (const r of reqs) {
      if (r.pooled) (lent ??= []).push(r.pooled);
      this.releaseReq(r);
    }
    // Write callbacks run in order, after the data left (or the socket died): then the pool
    // buffers are free again.
    const done = lent ? () => { for (const b of lent!) pool.release(b); } : undefined;
    if (parts.length === 1) s.write(parts[0]!, done);
    else {
      s.cork();
      const last = parts.length - 1;
      for (let i = 0; i < last; i++) s.write(parts[i]!);
      s.write(parts[last]!, done);
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
    const bytes = this.inFlightBytes + this.parser.partialPayloadBytes;
    if (!this.paused) {
      if (bytes > lim.maxInFlightBytes || this.inFlight >= lim.maxInFlightRequests || queued > lim.maxQueuedReplyBytes) {
        this.paused = true;
        this.socket.pause();
      }
    } else if (bytes <= lim.maxInFlightBytes / 2 && this.inFlight <= lim.maxInFlightRequests / 2 && queued <= lim.maxQueuedReplyBytes / 2) {
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
