/**
 * Raw gRPC calls against real servers, for delivery and bad-input tests: each helper sends
 * exactly the messages it is given (well-formed or not, none of the typed clients' checks) and
 * reports what the server answered, as one shape: the gRPC status code, the reject reason (from a
 * response's `reason` field, or from the `blockwal-reason` trailer of an error status) and the
 * message. Plus small helpers: wlog/wdiff bytes as chunk messages, a sorted wdiff from a wlog,
 * a digest of data directories, polling, and the archive's "diff stored" log lines.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SequentialWriter, wlogToWdiff } from '@blockwal/core';
import {
  ArchiveServiceClient,
  ChunkEncoder,
  ProxyServiceClient,
  StorageServiceClient,
  blockwal,
  channelCredentials,
  clientOptions,
  diffToWire,
  reasonFromWire,
} from '@blockwal/proto';
import type { WlogPushHeader } from './proxy-wlogs.js';

import v1 = blockwal.v1;

/** What a server answered to a call. */
export interface Answer {
  /** grpc.status.OK when the call (or the verdict) went through. */
  code: grpc.status;
  /** The reject reason ('ok' when accepted, '' when the server sent none). */
  reason: string;
  message: string;
  /** PushDiff: the latest snapshot the archive answered with. */
  latest?: { gidB: number; gidE: number } | null;
  /** PushDiff: the refusal came as the verdict (a response), not as an error status. */
  verdict?: boolean;
  /** PushWlog: the spooled wdiff's name. */
  wdiffName?: string;
}

/** Clients allowed to send messages up to `maxSend` bytes (to reach a server's own limits). */
export function rawClients(maxSend = 64 * 1024 * 1024): grpc.ClientOptions {
  return clientOptions({ 'grpc.max_send_message_length': maxSend });
}

export const archiveRaw = (address: string) => new ArchiveServiceClient(address, channelCredentials(), rawClients());
export const proxyRaw = (address: string) => new ProxyServiceClient(address, channelCredentials(), rawClients());
export const storageRaw = (address: string) => new StorageServiceClient(address, channelCredentials(), rawClients());

/** The Answer of a failed call. */
export function statusAnswer(e: unknown): Answer {
  const se = e as Partial<grpc.ServiceError>;
  const reason = se.metadata?.get('blockwal-reason')[0];
  return { code: se.code ?? grpc.status.UNKNOWN, reason: typeof reason === 'string' ? reason : '', message: se.details ?? (e as Error).message };
}

/** A unary call as an Answer: `call(cb)` starts it. */
export function unaryAnswer<T>(call: (cb: (e: grpc.ServiceError | null, r?: T) => void) => void): Promise<Answer & { response?: T }> {
  return new Promise((resolve) =>
    call((e, r) => {
      if (e) resolve(statusAnswer(e));
      else {
        const reason = (r as { reason?: v1.Reason } | undefined)?.reason;
        resolve({ code: grpc.status.OK, reason: reasonFromWire(reason) ?? 'ok', message: (r as { message?: string } | undefined)?.message ?? '', response: r! });
      }
    }),
  );
}

/** The wire header of a PushWlog. */
export function wlogHeaderToWire(h: WlogPushHeader): v1.IPushWlogHeader {
  return { volume: h.volume, deviceUuid: h.deviceUuid, pbs: h.pbs, salt: h.salt, volumeSize: h.volumeSize, diff: diffToWire(h.diff), beginLsid: h.beginLsid, endLsid: h.endLsid };
}

/** Bytes as chunk messages and the end message of a checked stream. */
export function streamOf(bytes: Uint8Array, chunkBytes = 256 * 1024): { chunk?: v1.IChunk; end?: v1.IStreamEnd }[] {
  const enc = new ChunkEncoder();
  const out: { chunk?: v1.IChunk; end?: v1.IStreamEnd }[] = [];
  for (let off = 0; off < bytes.length; off += chunkBytes) out.push({ chunk: enc.chunk(bytes.subarray(off, off + chunkBytes)) });
  out.push({ end: enc.end() });
  return out;
}

/** PushWlog with exactly these messages (after the server answered, the rest is not sent). */
export function rawPushWlog(client: ProxyServiceClient, msgs: v1.IPushWlogRequest[]): Promise<Answer> {
  return new Promise((resolve) => {
    let answered = false;
    const call = client.pushWlog((e, r) => {
      answered = true;
      if (e) resolve(statusAnswer(e));
      else resolve({ code: grpc.status.OK, reason: reasonFromWire(r!.reason) ?? 'ok', message: r!.message, wdiffName: r!.wdiffName });
    });
    call.on('error', () => {}); // the callback carries it
    void (async () => {
      for (const m of msgs) {
        if (answered) return;
        if (!call.write(m)) await new Promise<void>((r) => { call.once('drain', r); call.once('error', r); call.once('close', r); });
      }
      if (!answered) call.end();
    })();
  });
}

/**
 * PushDiff: the header, the verdict; when it is OK, `body` and (unless `body` holds its own end or
 * `halfClose` is false) the half-close, then the final answer.
 */
export async function rawPushDiff(client: ArchiveServiceClient, header: v1.IPushDiffHeader, body: v1.IPushDiffRequest[], opts: { halfClose?: boolean } = {}): Promise<Answer> {
  const call = client.pushDiff();
  call.on('error', () => {});
  const answers = call[Symbol.asyncIterator]() as AsyncIterator<v1.PushDiffResponse>;
  const latestOf = (r: v1.PushDiffResponse) => (r.latest ? { gidB: Number(r.latest.gidB), gidE: Number(r.latest.gidE) } : null);
  try {
    call.write({ header });
    const verdict = await answers.next();
    if (verdict.done) return { code: grpc.status.UNKNOWN, reason: '', message: 'no verdict' };
    if (verdict.value.reason !== v1.Reason.REASON_OK) {
      return { code: grpc.status.OK, reason: reasonFromWire(verdict.value.reason) ?? '', message: verdict.value.message, latest: latestOf(verdict.value), verdict: true };
    }
    for (const m of body) {
      if (!call.write(m)) await new Promise<void>((r) => { call.once('drain', r); call.once('error', r); call.once('close', r); });
    }
    if (opts.halfClose !== false) call.end();
    const last = await answers.next();
    if (last.done) return { code: grpc.status.UNKNOWN, reason: '', message: 'no final answer' };
    const r = last.value;
    return { code: grpc.status.OK, reason: r.stored ? 'ok' : (reasonFromWire(r.reason) ?? ''), message: r.message, latest: latestOf(r) };
  } catch (e) {
    return statusAnswer(e);
  } finally {
    call.cancel();
  }
}

/** FullSync: the header, the first answer; when it is OK, `rest`, then the next answer. */
export async function rawFullSync(client: ArchiveServiceClient, header: v1.IFullSyncHeader, rest: v1.IFullSyncRequest[]): Promise<Answer & { resumeOffset?: number }> {
  const call = client.fullSync();
  call.on('error', () => {});
  const answers = call[Symbol.asyncIterator]() as AsyncIterator<v1.FullSyncResponse>;
  try {
    call.write({ header });
    const first = await answers.next();
    if (first.done) return { code: grpc.status.UNKNOWN, reason: '', message: 'no first answer' };
    if (first.value.reason !== v1.Reason.REASON_OK) return { code: grpc.status.OK, reason: reasonFromWire(first.value.reason) ?? '', message: first.value.message };
    if (rest.length === 0) return { code: grpc.status.OK, reason: 'ok', message: '', resumeOffset: Number(first.value.resumeOffset) };
    for (const m of rest) call.write(m);
    const next = await answers.next();
    if (next.done) return { code: grpc.status.UNKNOWN, reason: '', message: 'no answer after the data' };
    return { code: grpc.status.OK, reason: next.value.done ? 'ok' : (reasonFromWire(next.value.reason) ?? ''), message: next.value.message };
  } catch (e) {
    return statusAnswer(e);
  } finally {
    call.cancel();
  }
}

/** ReadSnapshot read to its end: the Answer and the sha256 of the bytes (when it went through). */
export async function rawReadSnapshot(client: ArchiveServiceClient, req: v1.IReadSnapshotRequest): Promise<Answer & { sha256?: string; bytes?: number }> {
  const call = client.readSnapshot(req);
  const h = createHash('sha256');
  let bytes = 0;
  try {
    for await (const m of call as AsyncIterable<v1.ReadSnapshotResponse>) {
      if (m.chunk?.data) {
        h.update(m.chunk.data);
        bytes += m.chunk.data.length;
      }
    }
    return { code: grpc.status.OK, reason: 'ok', message: '', sha256: h.digest('hex'), bytes };
  } catch (e) {
    return statusAnswer(e);
  }
}

/** Converts a wlog file into a sorted wdiff file (what a proxy sends an archive for it). */
export function sortedWdiffOfWlog(wlogFile: string, wdiffFile: string): string {
  const inFd = openSync(wlogFile, 'r');
  const outFd = openSync(wdiffFile, 'w');
  try {
    const w = new SequentialWriter(outFd, { file: wdiffFile });
    wlogToWdiff(inFd, true, w, { inputName: wlogFile, outputName: wdiffFile });
    w.flush();
  } finally {
    closeSync(inFd);
    closeSync(outFd);
  }
  return wdiffFile;
}

/** relative path → size:sha256 of every file under `dir`, without the top-level entries in `skip`. */
export function dirDigest(dir: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const rel = path.relative(dir, p);
      if (skip.includes(rel)) continue;
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${rel}/`] = 'dir';
        walk(p);
      } else out[rel] = `${st.size}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

/** Polls `cond` until it holds; fails naming `what` (and the last detail `cond` gave) after `timeoutMs`. */
export async function waitUntil(cond: () => Promise<boolean | string> | boolean | string, what: string, timeoutMs = 30_000, stepMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: boolean | string = false;
  for (;;) {
    try {
      last = await cond();
    } catch (e) {
      last = `threw: ${(e as Error).message}`;
    }
    if (last === true) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${typeof last === 'string' ? ` (${last})` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The JSON log lines of a server's output with the given `msg`. */
export function logLines(output: string, msg: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o['msg'] === msg) out.push(o);
    } catch {
      // not a log line
    }
  }
  return out;
}

/** How many times the archive logged 'diff stored' for each diff (`|0|-->|1|` …). */
export function storedCounts(archiveOutput: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of logLines(archiveOutput, 'diff stored')) m.set(String(o['diff']), (m.get(String(o['diff'])) ?? 0) + 1);
  return m;
}
