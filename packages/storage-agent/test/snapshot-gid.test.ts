import assert from 'node:assert/strict';
import fc from 'fast-check';
import { afterAck, allocateGid, chunkDiff, needsImplicitSnapshot, planChunk, pushSnapshot, resolveSplit, type LsidGid } from '@blockwal/storage-agent';

type Op = { kind: 'write'; pb: number } | { kind: 'snap'; explicit: boolean } | { kind: 'ship' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 40 }).map((pb) => ({ kind: 'write' as const, pb })) },
  { weight: 2, arbitrary: fc.boolean().map((explicit) => ({ kind: 'snap' as const, explicit })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'ship' as const }) },
);

/** A model log: pack boundaries; the shipper loop as ship.ts runs it (without I/O). */
function simulate(ops: Op[], maxPb: number): void {
  const packs = [0]; // pack start lsids; the last entry is the end of the log
  let done: LsidGid = { lsid: 0, gid: 0, mergeable: false, timestamp: 0 };
  let queue: LsidGid[] = [];
  const explicit: LsidGid[] = [];
  const doneSeq: LsidGid[] = [done];
  let t = 0;
  const end = () => packs[packs.length - 1]!;
  const lastBoundary = (begin: number, limit: number) => {
    const i = packs.indexOf(begin);
    assert.ok(i >= 0, `begin ${begin} is a pack boundary`);
    let b = begin;
    for (let j = i + 1; j < packs.length; j++) {
      if (packs[j]! > limit) return b === begin ? packs[j]! : b;
      b = packs[j]!;
      if (b === limit) return b;
    }
    return b;
  };
  const ship = () => {
    const planned = planChunk(done, queue, end(), maxPb);
    if (!planned) return false;
    const { plan, end: e } = planned.kind === 'split' ? resolveSplit(planned, lastBoundary(planned.begin, planned.limit)) : { plan: planned, end: planned.end };
    const d = chunkDiff(done, e);
    assert.ok(d.gidE > d.gidB, 'a diff progresses');
    assert.equal(d.mergeable, done.mergeable, 'the diff is mergeable when its start snapshot is implicit');
    const size = e.lsid - done.lsid;
    assert.ok(size > 0, 'never an empty chunk');
    const onePack = packs.indexOf(done.lsid) + 1 < packs.length && packs[packs.indexOf(done.lsid) + 1] === e.lsid;
    assert.ok(size <= maxPb || onePack || e.gid === done.gid + 1, `chunk of ${size} pb > ${maxPb} without need`);
    if (plan.kind === 'split') {
      assert.equal(e.gid, done.gid + 1, 'an intermediate chunk takes the reserved gid');
      assert.ok(e.lsid > done.lsid && e.lsid < plan.end.lsid && packs.includes(e.lsid), 'at a logpack boundary inside the chunk');
      assert.ok(e.gid < queue[0]!.gid, 'the reserved gid is below the next record');
    }
    for (const x of queue.slice(0, plan.kind === 'record' ? plan.records - 1 : 0)) assert.ok(x.mergeable, 'only implicit records are merged into a chunk');
    ({ done, queue } = afterAck(queue, plan, e));
    doneSeq.push(done);
    return true;
  };
  for (const op of ops) {
    t++;
    if (op.kind === 'write') packs.push(end() + op.pb);
    else if (op.kind === 'snap') {
      const prev = queue.length > 0 ? queue[queue.length - 1]! : done;
      const p = pushSnapshot(done, queue, end(), { mergeable: !op.explicit, timestamp: t, maxPb });
      if (end() === prev.lsid) {
        assert.equal(p.record.gid, prev.gid, 'no new log: the same point, the same gid');
        assert.equal(p.record.mergeable, prev.mergeable && !op.explicit);
      } else {
        assert.equal(p.record.gid, allocateGid(prev, end(), maxPb));
        assert.equal(p.record.gid, prev.gid + 1 + Math.floor((end() - prev.lsid) / maxPb), 'walb-tools gid rule');
      }
      if (p.done !== done) doneSeq[doneSeq.length - 1] = p.done;
      done = p.done;
      queue = p.queue;
      if (op.explicit) explicit.push(p.record);
    } else {
      if (needsImplicitSnapshot(done, queue, end(), t, 0)) queue = pushSnapshot(done, queue, end(), { mergeable: true, timestamp: t, maxPb }).queue;
      ship();
    }
  }
  while (ship());
  assert.equal(queue.length, 0);
  for (let i = 1; i < doneSeq.length; i++) {
    assert.ok(doneSeq[i]!.gid > doneSeq[i - 1]!.gid, 'done gids increase');
    assert.ok(doneSeq[i]!.lsid >= doneSeq[i - 1]!.lsid, 'done lsids never go back');
  }
  for (const x of explicit) assert.ok(doneSeq.some((d) => d.gid === x.gid && d.lsid === x.lsid && !d.mergeable), `explicit snapshot ${x.gid} ends a chunk`);
}

describe('gid allocation and chunk cutting (walb-tools §2.5)', () => {
  it('allocates gid = prev.gid + 1 + floor((lsid - prev.lsid) / chunkMaxPb)', () => {
    const done = { lsid: 100, gid: 7, mergeable: false, timestamp: 0 };
    assert.equal(allocateGid(done, 100, 10), 8);
    assert.equal(allocateGid(done, 109, 10), 8);
    assert.equal(allocateGid(done, 110, 10), 9);
    assert.equal(allocateGid(done, 135, 10), 11);
    assert.throws(() => allocateGid(done, 99, 10), RangeError);
  });

  it('a snapshot below the newest record moves up to it; with no new log it names the same point', () => {
    const done = { lsid: 0, gid: 0, mergeable: false, timestamp: 0 };
    const q = pushSnapshot(done, [], 50, { mergeable: true, timestamp: 1, maxPb: 100 }).queue;
    const p = pushSnapshot(done, q, 40, { mergeable: false, timestamp: 2, maxPb: 100 });
    assert.deepEqual([p.record.lsid, p.record.gid, p.record.mergeable, p.queue.length], [50, 1, false, 1], 'the implicit record made explicit');
    const x = pushSnapshot(done, q, 60, { mergeable: false, timestamp: 2, maxPb: 100 });
    assert.deepEqual([x.record.lsid, x.record.gid, x.queue.length], [60, 2, 2]);
    const d = pushSnapshot({ ...done, mergeable: true }, [], 0, { mergeable: false, timestamp: 3, maxPb: 100 });
    assert.deepEqual([d.record.gid, d.done.mergeable, d.queue.length], [0, false, 0], 'the done record made explicit');
  });

  it('property: gids monotone, reserved gids for split chunks, explicit records never merged', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), fc.integer({ min: 1, max: 64 }), (ops, maxPb) => simulate(ops, maxPb)),
      { numRuns: 400 },
    );
  });
});
