/**
 * Typed client helpers of ProxyService, for the storage agent and the CLI: push a wlog (streamed
 * with backpressure; the answer or a RejectedError) and read the proxy's status.
 */
import { open } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import { RejectedError, ioError, readBuffer, type TlsConfig } from '@blockwal/core';
import {
  ChunkEncoder,
  DEFAULT_CHUNK_BYTES,
  MAX_CHUNK_BYTES,
  ProxyServiceClient,
  blockwal,
  channelCredentials,
  clientOptions,
  diffToWire,
  fromServiceError,
  reasonFromWire,
  writeWithBackpressure,
} from '@blockwal/proto';
import type { WlogPush } from './receive.js';
import type { ProxyStatus } from './status.js';

import v1 = blockwal.v1;

export type { WlogPush } from './receive.js';

/** A wlog file's path, or its bytes in pieces of any size. */
export type WlogSource = string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface PushWlogOptions {
  /** Bytes per chunk message (default 1 MiB, at most 4 MiB). */
  chunkBytes?: number;
  deadline?: Date | number;
  signal?: AbortSignal;
}

export interface PushWlogResult {
  /** The name under which the proxy spooled the wdiff. */
  wdiffName: string;
  /** Bytes of the wlog sent. */
  bytes: number;
}

/** A ProxyService client with blockwal's channel options (mutual TLS when `tls` is given). */
export function proxyClient(address: string, tls?: TlsConfig): ProxyServiceClient {
  return new ProxyServiceClient(address, channelCredentials(tls), clientOptions());
}

/**
 * Streams a wlog to a proxy and returns once the proxy has made it durable in every spool.
 * Throws a RejectedError for any refusal (its `reason` and `policy` say what to do) and for a
 * transport failure ('stopped': try another proxy); a local read error is thrown as it is.
 */
export async function pushWlog(client: ProxyServiceClient, header: WlogPush, source: WlogSource, opts: PushWlogOptions = {}): Promise<PushWlogResult> {
  const chunkBytes = Math.min(opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES);
  const peer = client.getChannel().getTarget();
  let answered = false;
  let call!: grpc.ClientWritableStream<v1.IPushWlogRequest>;
  const answer = new Promise<v1.PushWlogResponse>((resolve, reject) => {
    call = client.pushWlog(opts.deadline !== undefined ? { deadline: opts.deadline } : {}, (err, res) => {
      answered = true;
      if (err) reject(fromServiceError(err, peer));
      else resolve(res!);
    });
  });
  answer.catch(() => {});
  call.on('error', () => {}); // the callback carries the error
  const onAbort = () => call.cancel();
  opts.signal?.addEventListener('abort', onAbort);
  const enc = new ChunkEncoder();
  try {
    call.write({
      header: {
        volume: header.volume,
        deviceUuid: header.deviceUuid,
        pbs: header.pbs,
        salt: header.salt,
        volumeSize: header.volumeSize,
        diff: diffToWire(header.diff),
        beginLsid: header.beginLsid,
        endLsid: header.endLsid,
      },
    });
    for await (const piece of pieces(source, chunkBytes)) {
      if (answered) break; // refused early: stop sending
      const wait = writeWithBackpressure(call, { chunk: enc.chunk(piece) });
      if (wait) await Promise.race([wait.catch(() => {}), answer.catch(() => {})]);
    }
    if (!answered) {
      call.write({ end: enc.end() });
      call.end();
    }
  } catch (e) {
    call.cancel();
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const res = await answer;
  const reason = reasonFromWire(res.reason);
  if (reason !== undefined) throw new RejectedError(reason, `${res.message || reason} (${peer})`, { volume: header.volume });
  if (!answered || !res.wdiffName) throw new RejectedError('internal', `proxy ${peer} answered without a wdiff name`, { volume: header.volume });
  return { wdiffName: res.wdiffName, bytes: enc.length };
}

/** The proxy's volumes, spools and forwarding errors. Throws RejectedError on failure. */
export function getProxyStatus(client: ProxyServiceClient, opts: { deadline?: Date | number } = {}): Promise<ProxyStatus> {
  const peer = client.getChannel().getTarget();
  return new Promise((resolve, reject) => {
    client.getProxyStatus({}, opts.deadline !== undefined ? { deadline: opts.deadline } : {}, (err, res) => {
      if (err) return reject(fromServiceError(err, peer));
      resolve({
        volumes: (res!.volumes ?? []).map((v) => ({
          volume: v.volume ?? '',
          spools: (v.spools ?? []).map((s) => ({
            archive: s.archive ?? '',
            diffs: Number(s.diffs ?? 0),
            bytes: Number(s.bytes ?? 0),
            oldestTimestamp: Number(s.oldestTimestamp ?? 0),
            lastError: s.lastError ?? '',
          })),
        })),
        spoolBytes: Number(res!.spoolBytes ?? 0),
        quotaBytes: Number(res!.quotaBytes ?? 0),
      });
    });
  });
}

/** The source in pieces of at most `size` bytes (a file is read with a fresh buffer per piece). */
async function* pieces(source: WlogSource, size: number): AsyncGenerator<Uint8Array> {
  if (typeof source === 'string') {
    let fh;
    try {
      fh = await open(source, 'r');
    } catch (e) {
      throw ioError('open', source, e);
    }
    try {
      for (let pos = 0; ; ) {
        const buf = readBuffer(size);
        const { bytesRead } = await fh.read(buf, 0, size, pos);
        if (bytesRead === 0) return;
        pos += bytesRead;
        yield buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  }
  for await (const b of source as AsyncIterable<Uint8Array>) {
    for (let off = 0; off < b.length; off += size) yield b.subarray(off, Math.min(b.length, off + size));
  }
}
