/** ProxyService.PushWlog over gRPC (docs/pipeline.md §2): header, wlog chunks, end; one answer. */
import * as grpc from '@grpc/grpc-js';
import { RejectedError } from '@blockwal/core';
import { ChunkEncoder, ProxyServiceClient, blockwal, channelCredentials, clientOptions, diffToWire, fromServiceError, reasonFromWire, writeWithBackpressure, type TlsFiles } from '@blockwal/proto';
import { metaDiff, metaSnap } from '@blockwal/core';
import { LocalStreamError, type ProxyLink, type PushWlogHeader, type WlogBody } from './peers.js';

/** A wlog transfer may take this long at most. */
const PUSH_DEADLINE_MS = 10 * 60_000;

class ResponseArrived extends Error {}

export class GrpcProxyLink implements ProxyLink {
  private readonly client: ProxyServiceClient;

  constructor(
    readonly name: string,
    readonly address: string,
    tls?: TlsFiles,
  ) {
    this.client = new ProxyServiceClient(address, channelCredentials(tls), clientOptions());
  }

  async pushWlog(h: PushWlogHeader, body: WlogBody, signal?: AbortSignal): Promise<{ wdiffName: string }> {
    if (signal?.aborted) throw new RejectedError('stopped', `push to proxy ${this.name} cancelled`);
    let finished = false;
    let call!: grpc.ClientWritableStream<blockwal.v1.IPushWlogRequest>;
    const response = new Promise<blockwal.v1.PushWlogResponse>((resolve, reject) => {
      call = this.client.pushWlog({ deadline: new Date(Date.now() + PUSH_DEADLINE_MS) }, (err, res) => {
        finished = true;
        if (err || !res) reject(fromServiceError(err ?? new Error('no response'), `proxy ${this.name}`));
        else resolve(res);
      });
    });
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    const settled = response.then(
      () => undefined,
      () => undefined,
    );
    const enc = new ChunkEncoder();
    const diff = metaDiff(metaSnap(h.diff.gidB), metaSnap(h.diff.gidE), { isMergeable: h.diff.mergeable, timestamp: h.diff.timestamp });
    const write = async (msg: blockwal.v1.IPushWlogRequest) => {
      if (finished) throw new ResponseArrived();
      const w = writeWithBackpressure(call, msg);
      if (w) await Promise.race([w, settled]);
      if (finished) throw new ResponseArrived();
    };
    try {
      await write({
        header: {
          volume: h.volume,
          deviceUuid: h.uuid,
          pbs: h.pbs,
          salt: h.salt,
          volumeSize: h.sizeBytes,
          diff: diffToWire(diff),
          beginLsid: h.beginLsid,
          endLsid: h.endLsid,
        },
      });
      try {
        await body((piece) => write({ chunk: enc.chunk(piece) }));
      } catch (e) {
        if (e instanceof ResponseArrived) throw e;
        call.cancel();
        await settled;
        signal?.removeEventListener('abort', onAbort);
        throw new LocalStreamError(e);
      }
      await write({ end: enc.end() });
      call.end();
    } catch (e) {
      if (!(e instanceof ResponseArrived)) {
        if (e instanceof LocalStreamError) throw e;
        call.cancel();
        await settled;
        signal?.removeEventListener('abort', onAbort);
        throw fromServiceError(e as Error, `proxy ${this.name}`);
      }
    }
    let res: blockwal.v1.PushWlogResponse;
    try {
      res = await response;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const reason = reasonFromWire(res.reason);
    if (reason) throw new RejectedError(reason, `proxy ${this.name}: ${res.message || reason}`, { volume: h.volume, gid: h.diff.gidB });
    return { wdiffName: res.wdiffName };
  }

  close(): void {
    this.client.close();
  }
}
