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

