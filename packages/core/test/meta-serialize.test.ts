import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CybozuReader,
  CybozuWriter,
  FormatError,
  metaDiff,
  metaLsidGid,
  metaSnap,
  metaState,
  UnexpectedEofError,
  UnsupportedError,
  UsageError,
} from '@blockwal/core';
import { diffArb, snapArb, timestampArb } from './support/meta-arb.js';

const RUNS = { numRuns: 1000 };
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/ /g, ''), 'hex'));
const read = (bytes: string) => new CybozuReader(hex(bytes));
const write = (f: (w: CybozuWriter) => CybozuWriter) => Buffer.from(f(new CybozuWriter()).bytes()).toString('hex').replace(/(..)(?!$)/g, '$1 ');

/** The vectors of walb-formats §7.5, produced by the walb-tools code. */
const VECTORS = {
  diffClean: '12 03 01 00 82 00 f1 53 65 11 03 0a 0a 11 03 14 14 82 40 e2 01 00',
  diffDirty: '12 03 00 00 00 11 03 81 2c 01 81 90 01 11 03 82 70 11 01 00 82 71 11 01 00 00',
  state: '13 03 00 82 00 f1 53 65 11 03 05 05 11 03 05 05',
  lsidGid: '14 03 01 82 00 f1 53 65 81 00 10 07',
  string: '04 76 6f 6c 30',
};

describe('meta serialization, cybozu format (walb-formats §7.5)', () => {
  it('encodes and decodes every vector of the reference', () => {
    const clean = metaDiff(10, 20, { isMergeable: true, timestamp: 1_700_000_000, dataSize: 123_456 });
    const dirty = metaDiff(metaSnap(300, 400), metaSnap(70000, 70001));
    const state = metaState(5, 1_700_000_000);
    const lsidGid = metaLsidGid(4096, 7, { isMergeable: true, timestamp: 1_700_000_000 });
    assert.equal(write((w) => w.metaDiff(clean)), VECTORS.diffClean);
    assert.equal(write((w) => w.metaDiff(dirty)), VECTORS.diffDirty);
    assert.equal(write((w) => w.metaState(state)), VECTORS.state);
    assert.equal(write((w) => w.metaLsidGid(lsidGid)), VECTORS.lsidGid);
    assert.equal(write((w) => w.string('vol0')), VECTORS.string);
    const decoded = [read(VECTORS.diffClean).metaDiff(), read(VECTORS.diffDirty).metaDiff(), read(VECTORS.state).metaState(), read(VECTORS.lsidGid).metaLsidGid(), read(VECTORS.string).string()];
    assert.deepEqual(decoded, [clean, dirty, state, lsidGid, 'vol0']);
  });

  it('writes integers in the shortest cybozu form', () => {
    const cases: [number, string][] = [
      [0, '00'], [127, '7f'], [128, '80 80'], [200, '80 c8'], [255, '80 ff'], [256, '81 00 01'], [65535, '81 ff ff'],
      [65536, '82 00 00 01 00'], [2 ** 32 - 1, '82 ff ff ff ff'], [2 ** 32, '83 00 00 00 00 01 00 00 00'],
      [Number.MAX_SAFE_INTEGER, '83 ff ff ff ff ff ff 1f 00'],
    ];
    for (const [v, bytes] of cases) {
      assert.equal(write((w) => w.varint(v)), bytes, String(v));
      assert.equal(read(bytes).varint(), v, bytes);
    }
    for (const bad of [-1, 0.5, 2 ** 53]) assert.throws(() => new CybozuWriter().varint(bad), UsageError);
  });

  it('reads every header, and refuses integers outside 0 to 2^53 - 1', () => {
    for (const bytes of ['84 05', '85 05 00', '86 05 00 00 00', '87 05 00 00 00 00 00 00 00', '80 05', '81 05 00', '82 05 00 00 00', '83 05 00 00 00 00 00 00 00']) {
      assert.equal(read(bytes).varint(), 5, bytes);
    }
    // ff is 2^64 - 1 (the default gid), 88 is -120, 84 ff is -1, 83 … is 2^53.
    for (const bytes of ['ff', '88', '84 ff', '87 ff ff ff ff ff ff ff ff', '83 00 00 00 00 00 00 20 00']) {
      assert.throws(() => read(bytes).varint(), (e: unknown) => e instanceof UnsupportedError && e.where.offset === 0, bytes);
    }
    assert.throws(() => read('11 03 ff ff').metaSnap(), (e: unknown) => e instanceof UnsupportedError && e.where.offset === 2);
  });

  it('checks bounds: every truncated object is an unexpected end, located', () => {
    for (const [name, bytes] of Object.entries(VECTORS)) {
      const full = hex(bytes);
      for (let n = 0; n < full.length; n++) {
        const r = new CybozuReader(full.subarray(0, n), 0, { file: name });
        const decode = { diffClean: () => r.metaDiff(), diffDirty: () => r.metaDiff(), state: () => r.metaState(), lsidGid: () => r.metaLsidGid(), string: () => r.string() }[name]!;
        assert.throws(decode, (e: unknown) => e instanceof UnexpectedEofError && e.where.file === name && e.where.offset! <= n, `${name}[0..${n})`);
      }
    }
  });

  it('refuses bad data with a FormatError at its offset', () => {
    const bad: [string, (r: CybozuReader) => unknown, number][] = [
      ['12 04', (r) => r.metaDiff(), 0], // wrong preamble
      ['11 03 05 04', (r) => r.metaSnap(), 0], // gidB > gidE
      ['12 03 02 00 00 11 03 0a 0a 11 03 14 14 00', (r) => r.metaDiff(), 2], // bool 2
      ['12 03 00 00 00 11 03 14 14 11 03 0a 0a 00', (r) => r.metaDiff(), 0], // no progress
      ['13 03 01 00 11 03 05 05 11 03 05 05', (r) => r.metaState(), 0], // applying without progress
      ['02 c3 28', (r) => r.string(), 0], // not UTF-8
    ];
    for (const [bytes, decode, offset] of bad) {
      assert.throws(() => decode(new CybozuReader(hex(`aa ${bytes}`), 1)), (e: unknown) => e instanceof FormatError && e.where.offset === offset + 1, bytes);
    }
    const r = read('11 03 01 01 00');
    r.metaSnap();
    assert.throws(() => r.expectEnd(), (e: unknown) => e instanceof FormatError && /1 unexpected bytes/.test(e.message) && e.where.offset === 4);
  });

  it('reads the meaningless snapE of a steady state as its snapB', () => {
    assert.deepEqual(read('13 03 00 00 11 03 05 05 11 03 09 09').metaState(), metaState(5));
  });

  it('decodes what it encodes', () => {
    const stateArb = fc.tuple(diffArb, timestampArb, fc.boolean()).map(([d, ts, applying]) => (applying ? metaState(d.snapB, ts, d.snapE) : metaState(d.snapE, ts)));
    const lsidGidArb = fc.tuple(fc.nat(), snapArb, timestampArb, fc.boolean()).map(([lsid, s, timestamp, isMergeable]) => metaLsidGid(lsid, s.gidE, { timestamp, isMergeable }));
    const uuidArb = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), snapArb, diffArb, stateArb, lsidGidArb, fc.string({ unit: 'grapheme' }), uuidArb, (n, s, d, st, lg, str, uuid) => {
        const bytes = new CybozuWriter().varint(n).metaSnap(s).metaDiff(d).metaState(st).metaLsidGid(lg).string(str).uuid(uuid).bytes();
        const r = new CybozuReader(bytes);
        assert.deepEqual([r.varint(), r.metaSnap(), r.metaDiff(), r.metaState(), r.metaLsidGid(), r.string(), r.uuid()], [n, s, d, st, lg, str, uuid]);
        r.expectEnd();
      }),
      RUNS,
    );
  });
});
