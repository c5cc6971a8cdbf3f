/**
 * Property: any sequence of reads, writes, trims, write-zeroes and flushes (plus some rejected
 * ones) sent through the server leaves the export equal to a model buffer, and every read returns
 * the model's bytes. Requests go out in batches of non-overlapping ranges, pipelined; the export
 * delays operations at random so they complete (and are answered) out of order; the client sends
 * its bytes in random pieces so headers and payloads straddle socket reads. Reads go through
 * readInto (pooled buffers) or read() at random.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NBD_EINVAL, NBD_ENOSPC } from '../src/nbd/export.js';
import { MemoryExport } from '../src/nbd/memory-export.js';
import * as P from '../src/nbd/protocol.js';
import { startFixture, withoutReadInto, type Fixture } from './support/nbd-fixture.js';
import { RawNbdClient, type Reply } from './support/nbd-raw-client.js';

const RUNS = Number(process.env.BLOCKWAL_FUZZ_RUNS ?? 1000);
const UNITS = 32;

type Op =
  | { kind: 'read'; at: number; n: number; df: boolean }
  | { kind: 'write'; at: number; n: number; fua: boolean; seed: number }
  | { kind: 'trim'; at: number; n: number; fua: boolean }
  | { kind: 'zero'; at: number; n: number; noHole: boolean }
  | { kind: 'flush' }
  | { kind: 'past-end-write'; n: number }
  | { kind: 'past-end-read'; n: number };

const range = { at: fc.integer({ min: 0, max: UNITS - 1 }), n: fc.integer({ min: 0, max: 8 }) };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), ...range, df: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), ...range, fua: fc.boolean(), seed: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('trim' as const), ...range, fua: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('zero' as const), ...range, noHole: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('past-end-write' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('past-end-read' as const), n: fc.integer({ min: 1, max: 4 }) }) },
);

function pattern(seed: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 7 + (i >> 9)) & 0xff;
  return b;
}

/** Byte range an op touches (undefined: none; rejected ops touch nothing). */
function span(op: Op, unit: number): [number, number] | undefined {
  if (op.kind === 'flush' || op.kind === 'past-end-write' || op.kind === 'past-end-read') return undefined;
  const at = op.at * unit;
  return [at, Math.min(at + op.n * unit, UNITS * unit)];
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[1] && b[0] < a[1];
}

/** Greedy split into batches whose ranges do not overlap (so completion order cannot matter). */
function batches(ops: Op[], unit: number, maxBatch: number): Op[][] {
  const out: Op[][] = [];
  let cur: Op[] = [];
  let spans: [number, number][] = [];
  for (const op of ops) {
    const s = span(op, unit);
    if (cur.length >= maxBatch || (s && spans.some((x) => overlaps(x, s)))) {
      out.push(cur);
      cur = [];
      spans = [];
    }
    cur.push(op);
    if (s) spans.push(s);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** xorshift32 for the export's random delays (seeded by fast-check). */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

describe('nbd server against a model (property)', function () {
  let fx: Fixture;
  let runNo = 0;

  before(async () => {
    fx = await startFixture([], { tcp: false });
  });

  after(async () => {
    await fx.stop();
  });

  it(`random request sequences keep the export equal to the model (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        fc.constantFrom(512, 4096),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 6 }),
        fc.integer(),
        fc.boolean(),
        async (ops, structured, unit, maxBatch, pieces, delaySeed, useReadInto) => {
          const size = UNITS * unit;
          const name = `run${runNo++}`;
          const exp = new MemoryExport({ name, size, minBlockSize: 512, writeAlignment: unit, maxPayload: 8 * unit });
          const rand = rng(delaySeed);
          exp.hook = () => {
            const r = rand();
            if (r < 0.25) return new Promise<void>((res) => setImmediate(res));
            if (r < 0.35) return new Promise<void>((res) => setTimeout(res, 0));
            return undefined;
          };
          fx.provider.add(useReadInto ? exp : withoutReadInto(exp));
          const model = Buffer.alloc(size);
          const c = await RawNbdClient.connect({ path: fx.socketPath });
          try {
            await c.go(name, { structured });
            for (const batch of batches(ops, unit, maxBatch)) {
              const before = Buffer.from(model);
              c.holdSends();
              const sent: [Op, Promise<Reply>][] = batch.map((op) => [op, send(c, op, unit, size)]);
              await c.releaseSends(pieces);
              for (const [op, p] of sent) {
                const r = await p;
                check(op, r, before, model, unit, size, structured);
              }
            }
            for (let at = 0; at < size; at += 8 * unit) {
              const part = await c.read_(at, 8 * unit);
              assert.equal(part.error, 0);
              assert.ok(part.data!.equals(model.subarray(at, at + 8 * unit)), 'final reads equal the model');
            }
            assert.ok(exp.readSync(0, size).equals(model), 'export equals the model');
            c.disconnect();
            assert.ok(await c.closedWithin(5000));
          } finally {
            c.close();
            fx.provider.remove(name);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

function send(c: RawNbdClient, op: Op, unit: number, size: number): Promise<Reply> {
  switch (op.kind) {
    case 'read':
      return c.request(P.NBD_CMD_READ, op.at * unit, clampLen(op.at, op.n, unit), { flags: op.df && c.structured ? P.NBD_CMD_FLAG_DF : 0 });
    case 'write': {
      const len = clampLen(op.at, op.n, unit);
      return c.request(P.NBD_CMD_WRITE, op.at * unit, len, { flags: op.fua ? P.NBD_CMD_FLAG_FUA : 0, data: pattern(op.seed, len) });
    }
    case 'trim':
      return c.request(P.NBD_CMD_TRIM, op.at * unit, clampLen(op.at, op.n, unit), { flags: op.fua ? P.NBD_CMD_FLAG_FUA : 0 });
    case 'zero':
      return c.request(P.NBD_CMD_WRITE_ZEROES, op.at * unit, clampLen(op.at, op.n, unit), { flags: op.noHole ? P.NBD_CMD_FLAG_NO_HOLE : 0 });
    case 'flush':
      return c.request(P.NBD_CMD_FLUSH, 0, 0);
    case 'past-end-write':
      return c.request(P.NBD_CMD_WRITE, size - unit, (op.n + 1) * unit, { data: pattern(1, (op.n + 1) * unit) });
    case 'past-end-read':
      return c.request(P.NBD_CMD_READ, size, op.n * 512);
  }
}

function clampLen(at: number, n: number, unit: number): number {
  return Math.min(n, UNITS - at) * unit;
}

function check(op: Op, r: Reply, before: Buffer, model: Buffer, unit: number, size: number, structured: boolean): void {
  assert.equal(r.structured, structured && (op.kind === 'read' || op.kind === 'past-end-read' || r.error !== 0), 'reply kind follows negotiation');
  switch (op.kind) {
    case 'read': {
      assert.equal(r.error, 0);
      const at = op.at * unit;
      const len = clampLen(op.at, op.n, unit);
      assert.ok(r.data!.equals(before.subarray(at, at + len)), `read ${at}+${len}`);
      if (structured && len > 0) assert.equal(r.chunks.length, 1, 'one OFFSET_DATA chunk');
      return;
    }
    case 'write': {
      assert.equal(r.error, 0);
      const len = clampLen(op.at, op.n, unit);
      pattern(op.seed, len).copy(model, op.at * unit);
      return;
    }
    case 'trim':
    case 'zero':
      assert.equal(r.error, 0);
      model.fill(0, op.at * unit, op.at * unit + clampLen(op.at, op.n, unit));
      return;
    case 'flush':
      assert.equal(r.error, 0);
      return;
    case 'past-end-write':
      // Longer than maxPayload when n + 1 > 8 is impossible here (n <= 4), so the range decides.
      assert.equal(r.error, NBD_ENOSPC, `write past the end of ${size}`);
      return;
    case 'past-end-read':
      assert.equal(r.error, NBD_EINVAL);
      return;
  }
}
