/**
 * NbdServer: serves the exports of a provider over unix sockets and/or TCP, any number of
 * connections per export (multi-conn is advertised only by exports that say it is safe).
 *
 *   const server = new NbdServer(provider, { logger });
 *   await server.listen({ socketPath: '/run/blockwal/vol0.sock' });
 *   await server.listen({ host: '127.0.0.1', port: 10809 });
 *   ...
 *   await server.close(); // stop accepting, finish in-flight requests, close connections
 *
 * Shutdown follows proto.md: connections still haggling are closed; connections in transmission
 * answer new requests with ESHUTDOWN, finish the ones in flight, then close. After closeTimeoutMs
 * the remaining sockets are destroyed and close() resolves.
 */
import { lstat, unlink } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { BufferPool } from './buffer-pool.js';
import { DEFAULT_CONNECTION_LIMITS, NbdConnection, type ConnectionHost, type ConnectionLimits, type NbdLogger } from './connection.js';
import type { NbdExportProvider } from './export.js';
import type { HandshakeLimits } from './handshake.js';
import { newExportStats, type NbdExportStats } from './stats.js';

export interface NbdServerOptions {
  /** Receives the server's log records; nothing is logged without it. */
  logger?: NbdLogger;
  /** Per-connection bounds (in-flight bytes and requests, queued replies, timeouts). */
  limits?: Partial<ConnectionLimits>;
  /** Bounds on option haggling. */
  handshake?: Partial<HandshakeLimits>;
  /** Connections beyond this are refused (default 256). */
  maxConnections?: number;
  /** How long close() waits for in-flight requests before destroying connections (default 30 s). */
  closeTimeoutMs?: number;
  /** Idle bytes kept in the pool of read buffers lent to NbdExport.readInto (default 64 MiB). */
  readPoolBytes?: number;
}

export interface NbdListenOptions {
  /** A unix socket path (mutually exclusive with host/port). A stale socket file is replaced. */
  socketPath?: string;
  /** TCP host (default 127.0.0.1). */
  host?: string;
  /** TCP port (0 picks a free one; default 10809, the IANA port). */
  port?: number;
}

export type NbdAddress = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number; family: string };

const NBD_PORT = 10809;

export class NbdServer {
  private readonly listeners: { server: Server; address: NbdAddress }[] = [];
  private readonly connections = new Set<NbdConnection>();
  private readonly statsByExport = new Map<string, NbdExportStats>();
  private readonly host: ConnectionHost;
  private readonly maxConnections: number;
  private readonly closeTimeoutMs: number;
  private readonly logger: NbdLogger | undefined;
  private shuttingDown = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly provider: NbdExportProvider,
    opts: NbdServerOptions = {},
  ) {
    const userLogger = opts.logger;
    // A logger that throws must not break a connection (or crash the process from a promise callback).
    this.logger = userLogger
      ? (level, message, fields) => {
          try {
            userLogger(level, message, fields);
          } catch {
            // ignored
          }
        }
      : undefined;
    this.maxConnections = opts.maxConnections ?? 256;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 30_000;
    const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...opts.limits };
    this.host = {
      provider,
      limits,
      handshakeLimits: opts.handshake ?? {},
      logger: this.logger,
      isShuttingDown: () => this.shuttingDown,
      statsFor: (name) => this.statsOf(name),
      connectionClosed: (conn) => this.connections.delete(conn),
      readPool: new BufferPool(opts.readPoolBytes),
    };
  }

  /** Connections open now (handshake or transmission). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Addresses listened on. */
  get addresses(): NbdAddress[] {
    return this.listeners.map((l) => l.address);
  }

  /** Live counters of one export (created on first use; the same object is updated in place). */
  statsOf(exportName: string): NbdExportStats {
    let s = this.statsByExport.get(exportName);
    if (!s) {
      s = newExportStats();
      this.statsByExport.set(exportName, s);
    }
    return s;
  }

  /** A snapshot of the counters of every export that has been used. */
  stats(): Record<string, NbdExportStats> {
    const out: Record<string, NbdExportStats> = {};
    for (const [name, s] of this.statsByExport) out[name] = { ...s };
    return out;
  }

  async listen(opts: NbdListenOptions): Promise<NbdAddress> {
    if (this.shuttingDown) throw new Error('NbdServer: listen() after close()');
    if (opts.socketPath !== undefined && (opts.host !== undefined || opts.port !== undefined)) {
      throw new TypeError('NbdServer.listen: give either socketPath or host/port (call listen twice for both)');
    }
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.onConnection(socket));
    server.maxConnections = this.maxConnections;
    server.on('error', (err) => this.logger?.('error', 'listener error', { err }));
    let address: NbdAddress;
    if (opts.socketPath !== undefined) {
      const path = opts.socketPath;
      try {
        await listenOn(server, { path });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !(await isStaleSocket(path))) throw err;
        await unlink(path);
        await listenOn(server, { path });
      }
      address = { kind: 'unix', socketPath: path };
    } else {
      await listenOn(server, { host: opts.host ?? '127.0.0.1', port: opts.port ?? NBD_PORT });
      const a = server.address() as AddressInfo;
      address = { kind: 'tcp', host: a.address, port: a.port, family: a.family };
    }
    this.listeners.push({ server, address });
    this.logger?.('info', 'listening', { address });
    return address;
  }

  private onConnection(socket: Socket): void {
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true); // proto.md: disable Nagle (no-op on unix sockets)
    socket.setKeepAlive(true, 60_000); // notice dead TCP peers
    const conn = new NbdConnection(socket, this.host);
    this.connections.add(conn);
    this.logger?.('debug', 'connection', { conn: conn.id, remote: socket.remoteAddress });
    conn.start();
  }

  /** Stops accepting, lets in-flight requests finish, closes every connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.shuttingDown = true;
    const listenersClosed = this.listeners.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const conn of this.connections) conn.shutdown();
    const conns = [...this.connections];
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.closeTimeoutMs);
    });
    const done = Promise.all(conns.map((c) => c.closed)).then(() => false);
    const expired = await Promise.race([done, timedOut]);
    clearTimeout(timer);
    if (expired) {
      this.logger?.('warn', 'close timeout: destroying connections', { connections: this.connections.size });
      for (const conn of this.connections) conn.destroy();
    }
    await Promise.all(listenersClosed);
  }
}

function listenOn(server: Server, opts: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(opts);
  });
}

/** True when `path` is a unix socket nobody listens on (left by a crashed process). */
async function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!(await lstat(path)).isSocket()) return false;
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}
