/**
 * A small pool of archive worker threads (archive-worker.ts) running the long file jobs of
 * jobs.ts off the event loop: restores, merges, verifying received diffs. Workers start when a
 * job first needs one and stay (idle workers do not keep the process alive); a worker that dies
 * fails its job and is replaced by the next job. One job per worker at a time, FIFO, except that
 * `urgent` jobs (verifying a received diff, which a sender waits for) go ahead of queued ones.
 * Size 0 runs every job inline on the event loop (debugging).
 *
 * Where the worker's script is (`archiveWorkerUrl`), in this order:
 * 1. a URL set by the embedding program with `setArchiveWorkerUrl` (a bundle with another layout);
 * 2. `archive-worker<ext>` next to this module, `<ext>` being this module's own extension:
 *    `src/archive-worker.ts` when running the sources through tsx (tests), `dist/archive-worker.js`
 *    for the tsc output, `packages/cli/dist/archive-worker.mjs` next to the CLI bundle
 *    `blockwal.mjs` (scripts/bundle-cli.mjs bundles the worker there).
 * A `.ts` worker is started through tsx's CommonJS register API (as mocha loads the tests): the
 * `--import tsx` of execArgv does not apply to a worker's entry module (tsx issue #354).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RejectedError, type Logger } from '@blockwal/core';
import type { JobReply } from './archive-worker.js';
import { runJob, type Job, type JobResult } from './jobs.js';
import { fromWireError } from './wire-error.js';

let injectedUrl: URL | null = null;

/** Makes the archive start its workers from `url` (null: back to the file next to this module). */
export function setArchiveWorkerUrl(url: string | URL | null): void {
  injectedUrl = url === null ? null : new URL(url);
}

/** The worker script: the injected URL, else `archive-worker` with this module's extension next to it. */
export function archiveWorkerUrl(): URL {
  if (injectedUrl !== null) return injectedUrl;
  const self = new URL(import.meta.url);
  return new URL(`./archive-worker${path.extname(self.pathname) || '.js'}`, self);
}

/** Starts a worker thread on `url`; a `.ts` file through tsx (development and tests only). */
export function startWorker(url: URL): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url);
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const boot = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(fileURLToPath(url))});`;
  return new Worker(boot, { eval: true });
}

export interface RunOptions {
  /** Goes ahead of queued jobs (a sender waits for it). */
  urgent?: boolean;
}

interface Pending {
  readonly id: number;
  readonly job: Job;
  readonly urgent: boolean;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class WorkerPool {
  /** Every live worker and the job it runs (null: idle). */
  private readonly workers = new Map<Worker, Pending | null>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    readonly size: number,
    private readonly log: Logger,
    private readonly url: () => URL = archiveWorkerUrl,
  ) {}

  /** Runs a job on a worker (inline when the pool has size 0). Rejects with the job's error, rebuilt. */
  run<J extends Job>(job: J, opts: RunOptions = {}): Promise<JobResult<J>> {
    if (this.closed) return Promise.reject(stopped());
    if (this.size === 0) return new Promise((resolve) => resolve(runJob(job)));
    return new Promise((resolve, reject) => {
      const p: Pending = { id: this.nextId++, job, urgent: opts.urgent === true, resolve: resolve as (v: unknown) => void, reject };
      if (p.urgent) {
        const at = this.queue.findIndex((q) => !q.urgent);
        this.queue.splice(at < 0 ? this.queue.length : at, 0, p);
      } else this.queue.push(p);
      this.dispatch();
    });
  }

  /** True when a new job would wait (every worker busy, or jobs queued): background work holds off. */
  get busy(): boolean {
    if (this.size === 0) return false;
    let running = 0;
    for (const p of this.workers.values()) if (p !== null) running++;
    return this.queue.length > 0 || running >= this.size;
  }

  /** Worker threads alive now. */
  get threads(): number {
    return this.workers.size;
  }

  /** Fails the queued jobs and the running ones ('stopped') and terminates the workers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(stopped());
    const all = [...this.workers.keys()];
    await Promise.all(all.map((w) => w.terminate()));
    for (const w of all) this.lost(w, stopped());
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      let w = [...this.workers].find(([, p]) => p === null)?.[0];
      if (w === undefined) {
        if (this.workers.size >= this.size) return;
        w = this.spawn();
      }
      const p = this.queue.shift()!;
      this.workers.set(w, p);
      w.ref();
      w.postMessage({ id: p.id, job: p.job });
    }
  }

  private spawn(): Worker {
    const w = startWorker(this.url());
    this.workers.set(w, null);
    w.unref();
    w.on('message', (m: JobReply) => {
      const p = this.workers.get(w);
      if (!p || p.id !== m.id) return;
      this.workers.set(w, null);
      w.unref();
      if (m.ok) p.resolve(m.result);
      else p.reject(fromWireError(m.error));
      this.dispatch();
    });
    w.on('error', (e) => this.lost(w, e));
    w.on('exit', (code) => this.lost(w, new Error(`an archive worker thread exited (code ${code})`)));
    return w;
  }

  /** A worker died (or was terminated): its job fails; the next job starts a new worker. */
  private lost(w: Worker, e: unknown): void {
    if (!this.workers.has(w)) return;
    const p = this.workers.get(w);
    this.workers.delete(w);
    if (this.closed) {
      p?.reject(stopped());
      return;
    }
    this.log.error({ err: e instanceof Error ? e.message : String(e), job: p?.job.kind }, 'archive worker thread failed');
    p?.reject(e);
    this.dispatch();
  }
}

function stopped(): RejectedError {
  return new RejectedError('stopped', 'the archive is stopping');
}
