/**
 * How blockwal speaks gRPC: credentials (mutual TLS when configured), channel and server options,
 * and the HTTP/2 flow-control windows of the data plane. All tuning of the transport lives here.
 *
 * grpc-js gives a client-streaming upload a 64 KiB HTTP/2 window on the server side and has no
 * public option for it; bulk streams are 3-4x faster with large windows (bench/README.md). The
 * client side uses 'grpc-node.flow_control_window'; the server side sets the initial window in
 * its HTTP/2 settings and enlarges each session's connection window (see enlargeServerWindows).
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { UsageError } from '@blockwal/core';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

function loadTls(tls: TlsFiles): TlsMaterial {
  const read = (what: string, f: string) => {
    try {
      return readFileSync(f);
    } catch (e) {
      throw new UsageError(`cannot read TLS ${what} ${f}: ${(e as Error).message}`);
    }
  };
  return { cert: read('certificate', tls.certFile), key: read('key', tls.keyFile), ca: read('CA', tls.caFile) };
}

/** HTTP/2 window of data-plane streams and connections. */
export const DATA_WINDOW_BYTES = 32 * 1024 * 1024;
/** Largest gRPC message (chunks are at most 4 MiB; headroom for framing). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Largest data of one chunk message. */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** Chunk size senders use by default. */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;

/** Server credentials: mutual TLS (client certificates required) when tls is given. */
export function serverCredentials(tls?: TlsFiles): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const m = loadTls(tls);
  return grpc.ServerCredentials.createSsl(m.ca, [{ cert_chain: m.cert, private_key: m.key }], true);
}

/** Channel credentials: TLS with this side's certificate when tls is given. */
export function channelCredentials(tls?: TlsFiles): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const m = loadTls(tls);
  return grpc.credentials.createSsl(m.ca, m.key, m.cert);
}

export function clientOptions(extra: grpc.ClientOptions = {}): grpc.ClientOptions {
  return {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc-node.flow_control_window': DATA_WINDOW_BYTES,
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    // Reconnect quickly to a restarted peer (failover decisions are the caller's).
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2000,
    ...extra,
  };
}

/** A gRPC server with blockwal's limits and large data windows. */
export function createServer(): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  enlargeServerWindows(server);
  return server;
}

/**
 * Sets the server's per-stream initial window (HTTP/2 settings) and each session's connection
 * window. Uses grpc-js internals (commonServerOptions, http2Servers); when they are missing, the
 * default windows stay and only speed suffers.
 */
function enlargeServerWindows(server: grpc.Server): void {
  const s = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    createHttp2Server?: (creds: unknown) => import('node:http2').Http2Server;
  };
  if (s.commonServerOptions) s.commonServerOptions.settings = { ...(s.commonServerOptions.settings ?? {}), initialWindowSize: DATA_WINDOW_BYTES };
  const create = s.createHttp2Server;
  if (typeof create !== 'function') return;
  s.createHttp2Server = function (this: unknown, creds: unknown) {
    const h2 = create.call(this, creds);
    h2.on('session', (session) => {
      try {
        session.setLocalWindowSize(DATA_WINDOW_BYTES);
      } catch {
        // The session may already be closing.
      }
    });
    return h2;
  };
}

/**
 * Binds a server; returns the address actually bound ("127.0.0.1:43521" for port 0,
 * "unix:/path" unchanged).
 */
export async function bindServer(server: grpc.Server, address: string, tls?: TlsFiles): Promise<string> {
  const creds = serverCredentials(tls);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, creds, (err, p) => (err ? reject(err) : resolve(p))));
  if (address.startsWith('unix:')) return address;
  return address.replace(/:\d+$/, `:${port}`);
}

/** Stops a server: new calls refused, running ones get `graceMs` to finish, then are cancelled. */
export async function shutdownServer(server: grpc.Server, graceMs = 2000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A deadline `ms` from now, for CallOptions. */
export function deadlineIn(ms: number): Date {
  return new Date(Date.now() + ms);
}
