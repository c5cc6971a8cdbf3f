/**
 * Entry of an archive worker thread (worker-pool.ts): runs one job (jobs.ts) per message and
 * answers `{ id, ok, result }` or `{ id, ok: false, error }` (wire-error.ts). File I/O only: no
 * archive state, no logging. Bundled on its own next to the CLI bundle (scripts/bundle-cli.mjs).
 */
import { parentPort } from 'node:worker_threads';
import { runJob, type Job } from './jobs.js';
import { toWireError } from './wire-error.js';

export interface JobRequest {
  readonly id: number;
  readonly job: Job;
}

export type JobReply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: ReturnType<typeof toWireError> };

const port = parentPort;
if (port === null) throw new Error('archive-worker must run in a worker thread');
port.on('message', ({ id, job }: JobRequest) => {
  let reply: JobReply;
  try {
    reply = { id, ok: true, result: runJob(job) };
  } catch (e) {
    reply = { id, ok: false, error: toWireError(e) };
  }
  port.postMessage(reply);
});
