/** The admin commands, run as the real `blockwal` command against a TestCluster. */
import assert from 'node:assert/strict';
import { fileSha256 } from './scratch.js';
import type { TestCluster } from './cluster.js';

export function lastLine(s: string): string {
  return s.trimEnd().split('\n').pop() ?? '';
}

export function addVolume(c: TestCluster, volume: string, size: number): string {
  const r = c.admin('s0', ['volume', 'add', volume, '--size', String(size)]);
  assert.equal(r.code, 0, `volume add: ${r.stderr}\n${c.logs()}`);
  return lastLine(r.stdout);
}

export function snapshot(c: TestCluster, volume: string, wait = false): number {
  const r = c.admin('s0', ['snapshot', volume, ...(wait ? ['--wait', '--timeout', '120'] : [])]);
  assert.equal(r.code, 0, `snapshot: ${r.stderr}\n${c.logs()}`);
  return Number(lastLine(r.stdout));
}

export function restoreSha(c: TestCluster, volume: string, gid: number, file: string): string {
  const r = c.admin('a0', ['restore', volume, String(gid), '-o', file]);
  assert.equal(r.code, 0, `restore ${gid}: ${r.stderr}\n${c.logs()}`);
  return fileSha256(file);
}


/** Waits until the agent reports the volume in `state` (e.g. 'target' once its full backup is done). */
export async function waitState(c: TestCluster, volume: string, state: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < until) {
    const r = c.admin('s0', ['volume', 'list', '--json']);
    if (r.code === 0) {
      seen = (JSON.parse(r.stdout) as { name?: string; volume?: string; state: string }[]).find((v) => (v.name ?? v.volume) === volume)?.state ?? '';
      if (seen === state) return;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.fail(`volume ${volume} did not reach ${state} in ${timeoutMs} ms (last seen: ${seen})\n${c.logs()}`);
}
