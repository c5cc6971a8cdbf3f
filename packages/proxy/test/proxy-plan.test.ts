import assert from 'node:assert/strict';
import { metaDiff, type MetaDiff } from '@blockwal/core';
import { nextBackoffMs, planForward, type SpoolDiff } from '@blockwal/proxy';

const U1 = '11'.repeat(16);
const U2 = '22'.repeat(16);

function sd(d: MetaDiff, opts: { uuid?: string; bytes?: number; at?: number } = {}): SpoolDiff {
  const name = `${d.snapB.gidB}-${d.snapE.gidB}`;
  return { archive: 'a0', volume: 'v', uuid: opts.uuid ?? U1, name, diff: d, file: `/x/${name}`, bytes: opts.bytes ?? 100, ino: Math.random(), receivedMs: opts.at ?? 0 };
}

const M = { isMergeable: true };
const limits = { mergeMaxBytes: 1e9, mergeMaxDiffs: 1000, sendDelayMs: 0 };
const gids = (p: ReturnType<typeof planForward>) => (p.kind === 'send' ? p.batch.map((s) => s.name) : p.kind);

describe('proxy: forward plan', () => {
  it('is idle on an empty spool', () => {
    assert.equal(planForward([], limits, 0).kind, 'idle');
  });

  it('merges the first mergeable run of the chain, stopping before an explicit snapshot', () => {
    const spool = [sd(metaDiff(2, 3, M)), sd(metaDiff(0, 1)), sd(metaDiff(1, 2, M)), sd(metaDiff(3, 4))];
    const p = planForward(spool, limits, 0);
    assert.deepEqual(gids(p), ['0-1', '1-2', '2-3']);
    assert.ok(p.kind === 'send' && p.diff.snapB.gidB === 0 && p.diff.snapE.gidB === 3 && !p.diff.isMergeable);
  });

  it('follows the max-progress chain over duplicates and overlaps', () => {
    const spool = [sd(metaDiff(0, 1, M)), sd(metaDiff(0, 2, M)), sd(metaDiff(1, 2, M)), sd(metaDiff(2, 3, M))];
    assert.deepEqual(gids(planForward(spool, limits, 0)), ['0-2', '2-3']);
  });

  it('stops at a gap (the archive orders: the rest waits)', () => {
    const spool = [sd(metaDiff(0, 1, M)), sd(metaDiff(2, 3, M))];
    assert.deepEqual(gids(planForward(spool, limits, 0)), ['0-1']);
  });

  it('cuts at mergeMaxDiffs and mergeMaxBytes, but always sends one', () => {
    const spool = [0, 1, 2, 3].map((g) => sd(metaDiff(g, g + 1, M), { bytes: 100 }));
    assert.deepEqual(gids(planForward(spool, { ...limits, mergeMaxDiffs: 3 }, 0)), ['0-1', '1-2', '2-3']);
    assert.deepEqual(gids(planForward(spool, { ...limits, mergeMaxBytes: 250 }, 0)), ['0-1', '1-2']);
    assert.deepEqual(gids(planForward(spool, { ...limits, mergeMaxBytes: 10 }, 0)), ['0-1']);
  });

  it('sends the older lineage first and never mixes lineages', () => {
    const spool = [sd(metaDiff(0, 1, M), { uuid: U2, at: 50 }), sd(metaDiff(5, 6, M), { uuid: U1, at: 10 }), sd(metaDiff(6, 7, M), { uuid: U1, at: 60 })];
    const p = planForward(spool, limits, 100);
    assert.ok(p.kind === 'send');
    assert.equal(p.uuid, U1);
    assert.deepEqual(gids(p), ['5-6', '6-7']);
  });

  it('holds diffs younger than sendDelayMs', () => {
    const spool = [sd(metaDiff(0, 1, M), { at: 1000 }), sd(metaDiff(1, 2, M), { at: 1500 })];
    assert.deepEqual(planForward(spool, { ...limits, sendDelayMs: 1000 }, 1200), { kind: 'wait', atMs: 2000 });
    assert.deepEqual(gids(planForward(spool, { ...limits, sendDelayMs: 1000 }, 2100)), ['0-1']);
    assert.deepEqual(gids(planForward(spool, { ...limits, sendDelayMs: 1000 }, 2600)), ['0-1', '1-2']);
  });
});

describe('proxy: backoff', () => {
  it('doubles from min to max, with jitter in [d/2, d]', () => {
    assert.equal(nextBackoffMs(0, 1000, 300_000, () => 1), 1000);
    assert.equal(nextBackoffMs(0, 1000, 300_000, () => 0), 500);
    assert.equal(nextBackoffMs(3, 1000, 300_000, () => 1), 8000);
    assert.equal(nextBackoffMs(30, 1000, 300_000, () => 1), 300_000);
    assert.equal(nextBackoffMs(5000, 1000, 300_000, () => 0.5), 225_000);
  });
});
