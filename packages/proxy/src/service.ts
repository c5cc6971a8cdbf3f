/**
 * ProxyService over gRPC: thin handlers. Proto messages become domain types here (header →
 * WlogPush; chunks → verified bytes), the domain does the work (receive.ts, status.ts), and every
 * error leaves through toServiceError (the reason travels in the trailers).
 */
import type * as grpc from '@grpc/grpc-js';
import { RejectedError } from '@blockwal/core';
import { ChunkVerifier, blockwal, diffFromWire, toServiceError, uuidFromWire, type ProxyServiceHandlers } from '@blockwal/proto';
import type { WlogPush, WlogReceiver } from './receive.js';
import type { ProxyStatus } from './status.js';

import v1 = blockwal.v1;

export interface ProxyDomain {
  receiver: WlogReceiver;
  status(): ProxyStatus;
}

export function proxyHandlers(d: ProxyDomain): ProxyServiceHandlers {
  return {
    pushWlog(call, callback) {
      pushWlog(d.receiver, call).then(
        (r) => callback(null, { reason: v1.Reason.REASON_OK, wdiffName: r.wdiffName }),
        (e: unknown) => callback(toServiceError(e)),
      );
    },
    getProxyStatus(_call, callback) {
      try {
        callback(null, statusToWire(d.status()));
      } catch (e) {
        callback(toServiceError(e));
      }
    },
  };
}

async function pushWlog(receiver: WlogReceiver, call: grpc.ServerReadableStream<v1.PushWlogRequest, v1.IPushWlogResponse>): Promise<{ wdiffName: string }> {
  call.on('cancelled', () => call.destroy(new RejectedError('stopped', 'PushWlog cancelled by the client')));
  const it = call[Symbol.asyncIterator]() as AsyncIterator<v1.PushWlogRequest>;
  const first = await it.next();
  if (first.done || !first.value.header) throw new RejectedError('bad-argument', 'PushWlog must start with its header');
  let h: WlogPush;
  try {
    h = headerFromWire(first.value.header);
  } catch (e) {
    receiver.refused(first.value.header.volume ?? '', e);
    throw e;
  }
  return receiver.receive(h, verifiedChunks(it));
}

function headerFromWire(h: v1.IPushWlogHeader): WlogPush {
  return {
    volume: h.volume ?? '',
    deviceUuid: uuidFromWire(h.deviceUuid),
    pbs: Number(h.pbs ?? 0),
    salt: Number(h.salt ?? 0) >>> 0,
    volumeSize: Number(h.volumeSize ?? 0),
    diff: diffFromWire(h.diff),
    beginLsid: Number(h.beginLsid ?? 0),
    endLsid: Number(h.endLsid ?? 0),
  };
}

/** The bytes of the chunks, each checked; ends only after the stream's end was checked. */
async function* verifiedChunks(it: AsyncIterator<v1.PushWlogRequest>): AsyncGenerator<Uint8Array> {
  const verifier = new ChunkVerifier('wlog stream');
  for (;;) {
    const n = await it.next();
    if (n.done) throw new RejectedError('bad-argument', `the wlog stream stopped after ${verifier.length} bytes without its end`);
    const m = n.value;
    if (m.chunk) yield verifier.accept(m.chunk);
    else if (m.end) {
      verifier.end(m.end);
      return;
    } else throw new RejectedError('bad-argument', 'PushWlog: a second header or an empty message in the stream');
  }
}

function statusToWire(s: ProxyStatus): v1.IGetProxyStatusResponse {
  return {
    volumes: s.volumes.map((v) => ({
      volume: v.volume,
      spools: v.spools.map((p) => ({ archive: p.archive, diffs: p.diffs, bytes: p.bytes, oldestTimestamp: p.oldestTimestamp, lastError: p.lastError })),
    })),
    spoolBytes: s.spoolBytes,
    quotaBytes: s.quotaBytes,
  };
}
