/**
 * Forwarding, one task per (volume, archive), each independent of the others: plan the next
 * batch (forward-plan.ts), merge it into one sorted wdiff (forward-merge.ts), push it
 * (archive-push.ts) and react to the answer as docs/pipeline.md §2 PushDiff step 4 says:
 *
 * | answer | spool | next |
 * |---|---|---|
 * | stored | delete what the diff covers | at once |
 * | too-old | delete what it covers and what is too old for the archive's latest | at once |
 * | different-uuid | delete what it covers | at once |
 * | checksum | keep | resend at once (3 times, then as below) |
 * | anything else, transport errors | keep | backoff retryMinMs doubling to retryMaxMs, jitter |
 *
 * A new diff arriving wakes an idle task and cuts a backoff short (as walb-tools re-queues on
 * every wlog); the attempt count (so the next backoff) is kept until a push gets through.
 */
import { rmSync } from 'node:fs';
import { RETRY_POLICY, RejectedError, formatMetaDiff, reasonOf, uuidFromHex, type CompressionSpec, type Logger, type MetaDiff } from '@blockwal/core';
import type { DiffPusher, PushOutcome } from './archive-push.js';
import { nextBackoffMs } from './backoff.js';
import { mergeForForward } from './forward-merge.js';
import { coveredBy, planForward, tooOldFor, type ForwardPlan } from './forward-plan.js';
import type { SpoolStore } from './store.js';

export interface ForwardOptions {
  archive: string;
  volume: string;
  compression: CompressionSpec;
  sendDelayMs: number;
  mergeMaxBytes: number;
  mergeMaxDiffs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

export interface ForwardHooks {
  /** A diff (possibly merged from several spool diffs) was stored by the archive. */
  forwarded(volume: string, archive: string, bytes: number, spoolDiffs: number): void;
}

export type ForwardState = 'idle' | 'waiting' | 'sending' | 'backoff' | 'stopped';

/** Consecutive checksum answers resent at once before backing off. */
const MAX_RESENDS = 3;

interface Prepared {
  key: string;
  file: string;
  diff: MetaDiff;
}

export class ForwardTask {
  private state: ForwardState = 'idle';
  private attempt = 0;
  private resends = 0;
  private wake: (() => void) | null = null;
  private kicked = false;
  private readonly abort = new AbortController();
  private prepared: Prepared | null = null;
  private done: Promise<void> | null = null;
  /** The last forwarding error, '' after a success. */
  lastError = '';

  constructor(
    private readonly store: SpoolStore,
    private readonly pusher: DiffPusher,
    private readonly opts: ForwardOptions,
    private readonly hooks: ForwardHooks,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly rng: () => number = Math.random,
  ) {}

  get status(): ForwardState {
    return this.state;
  }

  start(): void {
    this.done ??= this.run().catch((e: unknown) => {
      this.log.error({ err: (e as Error).message }, 'forward task failed');
    });
  }

  /** New diffs may be there: plan again now (ends a wait or a backoff). */
  kick(): void {
    this.kicked = true;
    this.poke();
  }

  /** Stops the task: aborts a push in flight and waits for the loop to end. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.poke();
    await this.done;
    this.dropPrepared();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private transition(from: readonly ForwardState[], to: ForwardState): void {
    if (this.state === to) return;
    if (!from.includes(this.state)) throw new Error(`forward ${this.opts.volume}/${this.opts.archive}: transition ${this.state} -> ${to} not allowed`);
    this.log.debug({ from: this.state, to }, 'forward state');
    this.state = to;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await this.step();
      } catch (e) {
        // The spool could not be read or changed (disk trouble): keep everything, retry later.
        this.lastError = `internal: ${(e as Error).message}`;
        const delay = nextBackoffMs(this.attempt++, this.opts.retryMinMs, this.opts.retryMaxMs, this.rng);
        this.log.error({ err: (e as Error).message, delayMs: delay }, 'forward step failed; will retry');
        this.state = 'backoff';
        await this.sleep(delay);
      }
    }
    this.state = 'stopped';
  }

  /** One turn: plan, then wait, or send and react. */
  private async step(): Promise<void> {
    const { archive, volume } = this.opts;
    this.kicked = false;
    const plan = planForward(this.store.spool(archive, volume), this.opts, this.now());
    if (plan.kind === 'idle') {
      this.dropPrepared();
      this.transition(['idle', 'sending', 'backoff', 'waiting'], 'idle');
      await this.sleep(Infinity);
      return;
    }
    if (plan.kind === 'wait') {
      this.transition(['idle', 'sending', 'backoff', 'waiting'], 'waiting');
      await this.sleep(plan.atMs - this.now());
      return;
    }
    this.transition(['idle', 'sending', 'backoff', 'waiting'], 'sending');
    const outcome = await this.send(plan);
    if (this.abort.signal.aborted) return;
    const delay = this.react(plan, outcome);
    if (delay > 0) {
      this.transition(['sending'], 'backoff');
      await this.sleep(delay);
    }
  }

  /** Merges (or reuses the file of the same batch) and pushes. */
  private async send(plan: Extract<ForwardPlan, { kind: 'send' }>): Promise<PushOutcome> {
    let p: Prepared;
    try {
      p = this.prepare(plan);
    } catch (e) {
      // A spool file that cannot be read: keep it, report, retry later (never drop).
      return { stored: false, error: new RejectedError(reasonOf(e) === 'no-space' ? 'no-space' : 'internal', `merge of ${plan.batch.length} spool diffs failed: ${(e as Error).message}`) };
    }
    const volumeSize = this.store.volumeSize(this.opts.volume) ?? 0;
    return this.pusher.push({ volume: this.opts.volume, deviceUuid: uuidFromHex(plan.uuid), diff: p.diff, volumeSize, file: p.file }, this.abort.signal);
  }

  private prepare(plan: Extract<ForwardPlan, { kind: 'send' }>): Prepared {
    const key = `${plan.uuid}/${plan.batch.map((s) => s.name).join('/')}`;
    if (this.prepared?.key === key) return this.prepared;
    this.dropPrepared();
    const file = this.store.tmpFile(`forward-${this.opts.volume}-${this.opts.archive}`);
    const t0 = this.now();
    const bytes = mergeForForward(
      plan.batch.map((s) => s.file),
      file,
      uuidFromHex(plan.uuid),
      this.opts.compression,
    );
    this.log.debug({ diff: formatMetaDiff(plan.diff), inputs: plan.batch.length, bytes, ms: this.now() - t0 }, 'forward merge');
    this.prepared = { key, file, diff: { ...plan.diff, dataSize: bytes } };
    return this.prepared;
  }

  private dropPrepared(): void {
    if (this.prepared) rmSync(this.prepared.file, { force: true });
    this.prepared = null;
  }

  /** Applies the answer to the spool; returns how long to wait before the next try (0: now). */
  private react(plan: Extract<ForwardPlan, { kind: 'send' }>, outcome: PushOutcome): number {
    const { archive, volume } = this.opts;
    const spool = () => this.store.spool(archive, volume);
    const diff = formatMetaDiff(plan.diff);
    if (outcome.stored) {
      const covered = coveredBy(spool(), plan.uuid, plan.diff);
      this.store.remove(covered);
      this.dropPrepared();
      this.hooks.forwarded(volume, archive, outcome.bytes, covered.length);
      this.log.info({ diff, bytes: outcome.bytes, spoolDiffs: covered.length }, 'diff forwarded');
      return this.succeeded();
    }
    const e = outcome.error;
    const policy = RETRY_POLICY[e.reason];
    if (policy === 'delivered') {
      const drop = new Set(coveredBy(spool(), plan.uuid, plan.diff));
      if (e.reason === 'too-old' && outcome.latest) for (const s of tooOldFor(spool(), plan.uuid, outcome.latest)) drop.add(s);
      this.store.remove([...drop]);
      this.dropPrepared();
      this.log.info({ diff, reason: e.reason, spoolDiffs: drop.size, err: e.message }, 'diff not needed by the archive; deleted');
      return this.succeeded();
    }
    this.lastError = `${e.reason}: ${e.message}`;
    if (policy === 'resend' && this.resends < MAX_RESENDS) {
      this.resends++;
      this.dropPrepared(); // rebuild the file too, in case it was damaged here
      this.log.warn({ diff, reason: e.reason, err: e.message, resend: this.resends }, 'diff damaged on the way; resending');
      return 0;
    }
    this.resends = 0;
    const delay = nextBackoffMs(this.attempt++, this.opts.retryMinMs, this.opts.retryMaxMs, this.rng);
    this.log.warn({ diff, reason: e.reason, err: e.message, attempt: this.attempt, delayMs: delay }, 'forward refused; will retry');
    return Math.max(1, delay);
  }

  private succeeded(): number {
    this.attempt = 0;
    this.resends = 0;
    this.lastError = '';
    return 0;
  }

  /** Waits `ms` (Infinity: until kicked) or until kicked or stopped. */
  private async sleep(ms: number): Promise<void> {
    if (this.abort.signal.aborted || this.kicked) return;
    await new Promise<void>((resolve) => {
      const t = Number.isFinite(ms) ? setTimeout(() => this.poke(), Math.max(0, ms)) : null;
      this.wake = () => {
        if (t) clearTimeout(t);
        resolve();
      };
    });
  }
}
