/**
 * The wlog task of one volume (walb-tools-architecture §3.3, docs/pipeline.md §3): woken by the
 * device's lsid events (batched briefly) or a snapshot, it adds an implicit snapshot when due,
 * cuts the next chunk (chunk.ts), streams it as a wlog to the first healthy proxy by priority,
 * and on the proxy's ack persists the new done record, then frees the ring. Refusals follow
 * RETRY_POLICY: the next proxy is tried; when every proxy failed, the task backs off
 * (exponential with jitter). Only durable log is read; every checksum is checked on the way.
 */
import { RETRY_POLICY, RejectedError, type Logger } from '@blockwal/core';
import { Sleeper, nextBackoff } from './backoff.js';
import { afterAck, chunkDiff, planChunk, resolveSplit } from './chunk.js';
import type { StorageMetrics } from './metrics.js';
import { LocalStreamError, type ProxyLink, type PushWlogHeader } from './peers.js';
import type { ProxyPool } from './proxy-pool.js';
import type { LsidGid } from './state.js';
import type { Volume } from './volume.js';
import { PieceWriter, streamWlog } from './wlog-stream.js';

export interface ShipSettings {
  retryMinMs: number;
  retryMaxMs: number;
  /** Idle poll interval (also the implicit snapshot interval). */
  snapshotIntervalMs: number;
  /** Wait after a device event so that a burst of writes ships as one chunk. */
  batchMs: number;
}

/** Sends of a chunk damaged on the way (checksum) before another proxy is tried. */
const MAX_RESENDS = 2;

type Outcome = 'more' | 'idle';

export class Shipper {
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly sleeper = new Sleeper();
  private unwatch: (() => void) | null = null;
  private kicked = false;
  private backingOff = false;
  private attempt = 0;
  private abort = new AbortController();

  constructor(
    private readonly vol: Volume,
    private readonly pool: ProxyPool<ProxyLink>,
    private readonly metrics: StorageMetrics,
    private readonly s: ShipSettings,
    private readonly log: Logger,
  ) {}

  get active(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.abort = new AbortController();
    this.unwatch = this.vol.source.watch(() => this.kick());
    this.loopDone = this.loop();
  }

  /** Stops; a transfer under way is cancelled (its range is sent again later). */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.unwatch?.();
    this.unwatch = null;
    this.sleeper.wake();
    await this.loopDone;
  }

  /** Ships now (a snapshot was taken, or the durable log grew). Does not cut a backoff short. */
  kick(): void {
    this.kicked = true;
    if (!this.backingOff) this.sleeper.wake();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.kicked = false;
      let outcome: Outcome | 'error';
      try {
        outcome = await this.shipOnce();
      } catch (e) {
        outcome = 'error';
        this.attempt++;
        const message = e instanceof Error ? e.message : String(e);
        this.vol.setError(message);
        this.vol.proxyInUse = '';
        this.log.warn({ err: message, attempt: this.attempt }, 'ship failed');
      }
      if (!this.running) break;
      if (outcome === 'more') continue;
      if (outcome === 'error') {
        this.backingOff = true;
        await this.sleeper.sleep(nextBackoff(this.attempt, this.s.retryMinMs, this.s.retryMaxMs));
        this.backingOff = false;
        continue;
      }
      if (!this.kicked) await this.sleeper.sleep(this.s.snapshotIntervalMs);
      if (this.running && this.s.batchMs > 0) await new Promise((r) => setTimeout(r, this.s.batchMs));
    }
  }

  /** One transfer (or nothing to do). Throws when no proxy took the chunk. */
  private async shipOnce(): Promise<Outcome> {
    const vol = this.vol;
    const src = vol.source;
    if (!vol.shipping) return 'idle';
    if (await src.isOverflow()) {
      vol.markOverflow();
      return 'idle';
    }
    const l = await src.lsids();
    const done0 = vol.rec.done;
    if (l.oldest > done0.lsid) {
      vol.markOverflow(); // the log after the done record is gone: continuity is broken
      return 'idle';
    }
    if (l.oldest < done0.lsid && done0.lsid <= l.permanent) await src.setOldestLsid(done0.lsid); // after a crash between the two
    vol.maybeImplicit(l.permanent);
    const r = vol.rec;
    const planned = planChunk(r.done, r.queue, l.permanent, vol.maxPb);
    if (!planned) return 'idle';
    const { plan, end } = planned.kind === 'split' ? resolveSplit(planned, await src.lastBoundary(planned.begin, planned.limit)) : { plan: planned, end: planned.end };
    const id = vol.identity;
    const header: PushWlogHeader = {
      volume: vol.name,
      uuid: id.uuid,
      pbs: id.pbs,
      salt: id.salt,
      sizeBytes: id.sizeBytes,
      diff: chunkDiff(r.done, end),
      beginLsid: plan.begin,
      endLsid: end.lsid,
    };
    const sent = await this.push(header);
    const now = vol.rec;
    if (now.deviceUuid !== r.deviceUuid || now.done.gid !== r.done.gid || now.done.lsid !== r.done.lsid) return 'more'; // the log was reset meanwhile
    vol.update((x) => ({ ...x, ...afterAck(x.queue, plan, end), lastError: '' }));
    vol.proxyInUse = sent.proxy;
    this.attempt = 0;
    await this.free(end);
    return vol.rec.queue.length > 0 ? 'more' : 'idle';
  }

  /** Frees the ring up to the acknowledged end (after the done record is durable). */
  private async free(end: LsidGid): Promise<void> {
    try {
      await this.vol.source.setOldestLsid(end.lsid);
    } catch (e) {
      // Harmless: the next round frees up to the done record again.
      this.log.warn({ err: (e as Error).message, lsid: end.lsid }, 'freeing the log failed');
    }
  }

  /** Streams the chunk to the proxies in priority order until one acknowledges it. */
  private async push(h: PushWlogHeader): Promise<{ proxy: string; bytes: number }> {
    const vol = this.vol;
    let last: RejectedError | null = null;
    for (const p of this.pool.order()) {
      for (let resend = 0; ; resend++) {
        let bytes = 0;
        try {
          const res = await p.link.pushWlog(
            h,
            async (send) => {
              bytes = await streamWlog(new PieceWriter(send), vol.identity, h.beginLsid, h.endLsid, vol.source.readPacks(h.beginLsid, h.endLsid));
            },
            this.abort.signal,
          );
          this.pool.markUp(p.name);
          this.metrics.shipped(vol.name, p.name, bytes);
          this.log.info({ proxy: p.name, gidB: h.diff.gidB, gidE: h.diff.gidE, beginLsid: h.beginLsid, endLsid: h.endLsid, bytes, wdiff: res.wdiffName }, 'wlog shipped');
          return { proxy: p.name, bytes };
        } catch (e) {
          if (e instanceof LocalStreamError) throw e.inner;
          if (!this.running) throw e; // stopped: not the proxy's fault
          const err = e instanceof RejectedError ? e : new RejectedError('internal', e instanceof Error ? e.message : String(e));
          this.metrics.shipError(vol.name, p.name, err.reason);
          last = err;
          const policy = RETRY_POLICY[err.reason];
          if (policy === 'delivered') {
            this.log.info({ proxy: p.name, reason: err.reason, gidE: h.diff.gidE }, 'wlog already delivered');
            return { proxy: p.name, bytes: 0 };
          }
          if (policy === 'resend' && resend < MAX_RESENDS) continue;
          this.log.warn({ proxy: p.name, reason: err.reason, err: err.message }, 'wlog refused');
          this.pool.markDown(p.name);
          break;
        }
      }
    }
    throw last ?? new RejectedError('stopped', 'no proxy configured');
  }
}
