import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_ENOTSUP, NBD_EPERM, NbdError } from '../src/nbd/export.js';
import { BufferPool } from '../src/nbd/buffer-pool.js';
import { nbdErrnoOf } from '../src/nbd/error-map.js';
import { Handshake } from '../src/nbd/handshake.js';
import { exportLimits, transmissionFlags } from '../src/nbd/limits.js';
import { MemoryExport } from '../src/nbd/memory-export.js';
import * as P from '../src/nbd/protocol.js';
import { encodeReplyBatch, MAX_MESSAGE_CHARS, type ReplySlot } from '../src/nbd/reply-batch.js';
import { checkRequest, type RequestContext } from '../src/nbd/request-check.js';
import { RequestParser } from '../src/nbd/request-parser.js';
import { StaticExportProvider } from '../src/nbd/static-provider.js';

const RUNS = { numRuns: 1000 };

describe('nbd protocol encoding', () => {
  it('pins message sizes and field offsets', () => {
    const g = P.encodeGreeting(P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
    assert.equal(g.length, 18);
    assert.equal(g.subarray(0, 16).toString('latin1'), 'NBDMAGICIHAVEOPT');
    assert.equal(g.readUInt16BE(16), 3);

    const o = P.encodeOption(P.NBD_OPT_GO, Buffer.from('abc'));
    assert.equal(o.length, 19);
    assert.equal(o.subarray(0, 8).toString('latin1'), 'IHAVEOPT');
    assert.deepEqual(P.parseOptionHeader(o), { magicOk: true, option: 7, length: 3 });

    const r = P.encodeOptionReply(P.NBD_OPT_LIST, P.NBD_REP_ERR_UNSUP, Buffer.from('x'));
    assert.equal(r.length, 21);
    assert.equal(r.readBigUInt64BE(0), 0x3e889045565a9n);
    assert.deepEqual(P.parseOptionReplyHeader(r), { magicOk: true, option: 3, type: 0x80000001, length: 1 });

    assert.equal(P.encodeExportNameReply(1 << 20, 0x1234, true).length, 10);
    const ez = P.encodeExportNameReply(2 ** 40 + 512, 0x1234, false);
    assert.equal(ez.length, 134);
    assert.equal(ez.readBigUInt64BE(0), 2n ** 40n + 512n);
    assert.equal(ez.readUInt16BE(8), 0x1234);
    assert.ok(ez.subarray(10).every((b) => b === 0));

    const ie = P.encodeInfoExport(2 ** 33, 0x0141);
    assert.equal(ie.length, 12);
    assert.equal(ie.readUInt16BE(0), P.NBD_INFO_EXPORT);
    assert.equal(ie.readBigUInt64BE(2), 2n ** 33n);
    assert.equal(ie.readUInt16BE(10), 0x0141);
    const bs = P.encodeInfoBlockSize(512, 4096, 1 << 25);
    assert.equal(bs.length, 14);
    assert.deepEqual([bs.readUInt16BE(0), bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)], [3, 512, 4096, 1 << 25]);

    const b = Buffer.alloc(64);
    P.writeSimpleReply(b, 0, 22, 0x01020304, 0x05060708);
    assert.equal(b.readUInt32BE(0), 0x67446698);
    assert.equal(b.readUInt32BE(4), 22);
    assert.equal(b.readBigUInt64BE(8), 0x0102030405060708n);
    P.writeOffsetDataHeader(b, 0, 1, 2, 4096, 512);
    assert.equal(b.readUInt32BE(0), 0x668e33ef);
    assert.equal(b.readUInt16BE(4), P.NBD_REPLY_FLAG_DONE);
    assert.equal(b.readUInt16BE(6), P.NBD_REPLY_TYPE_OFFSET_DATA);
    assert.equal(b.readUInt32BE(16), 520);
    assert.equal(b.readBigUInt64BE(20), 4096n);
    const msg = Buffer.from('bad');
    P.writeErrorChunk(b, 0, 1, 2, 5, msg);
    assert.equal(P.errorChunkSize(3), 29);
    assert.equal(b.readUInt16BE(6), 0x8001);
    assert.equal(b.readUInt32BE(16), 9);
    assert.equal(b.readUInt32BE(20), 5);
    assert.equal(b.readUInt16BE(24), 3);
    assert.equal(b.subarray(26, 29).toString(), 'bad');
  });

  it('a request header decodes to what was encoded', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.maxSafeNat(), fc.integer({ min: 0, max: 0xffffffff }), (flags, type, handle, offset, length) => {
        const b = P.encodeRequest(type, flags, handle, offset, length);
        const h: P.RequestHeader = { magic: 0, flags: 0, type: 0, handleHi: 0, handleLo: 0, offset: 0, length: 0 };
        P.readRequestHeader(b, 0, h);
        assert.equal(h.magic, P.NBD_REQUEST_MAGIC);
        assert.equal(h.flags, flags);
        assert.equal(h.type, type);
        assert.equal((BigInt(h.handleHi) << 32n) | BigInt(h.handleLo), handle);
        assert.equal(h.offset, offset);
        assert.equal(h.length, length);
      }),
      RUNS,
    );
  });

  it('offsets at or above 2^53 never decode below 2^53', () => {
    const b = P.encodeRequest(0, 0, 1n, 0, 512);
    b.writeBigUInt64BE(2n ** 64n - 1n, 16);
    const h: P.RequestHeader = { magic: 0, flags: 0, type: 0, handleHi: 0, handleLo: 0, offset: 0, length: 0 };
    P.readRequestHeader(b, 0, h);
    assert.ok(h.offset >= 2 ** 53);
  });

  it('info requests round-trip and any truncation or extension is invalid', () => {
    const name = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(name, fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }), fc.integer({ min: 1, max: 5 }), (n, reqs, cut) => {
        const b = P.encodeInfoRequest(n, reqs);
        assert.deepEqual(P.parseInfoRequest(b), { name: n, requests: reqs });
        assert.equal(P.parseInfoRequest(b.subarray(0, Math.max(0, b.length - cut))), undefined);
        assert.equal(P.parseInfoRequest(Buffer.concat([b, Buffer.alloc(cut)])), undefined);
      }),
      RUNS,
    );
  });

  it('meta context requests round-trip; random bytes never throw', () => {
    const str = fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(str, fc.array(str, { maxLength: 5 }), fc.uint8Array({ maxLength: 64 }), (n, qs, junk) => {
        assert.deepEqual(P.parseMetaContextRequest(P.encodeMetaContextRequest(n, qs), 64), { name: n, queries: qs });
        P.parseMetaContextRequest(junk, 64);
        P.parseInfoRequest(junk);
      }),
      RUNS,
    );
    assert.equal(P.parseMetaContextRequest(P.encodeMetaContextRequest('a', ['b:', 'c:', 'd:']), 2), 'too-big');
  });

  it('strings with NUL, invalid UTF-8 or over 4096 bytes are rejected', () => {
    assert.equal(P.decodeString(Buffer.from('a\0b'), 0, 3), undefined);
    assert.equal(P.decodeString(Buffer.from([0xff, 0xfe]), 0, 2), undefined);
    assert.equal(P.decodeString(Buffer.alloc(4097, 0x61), 0, 4097), undefined);
    assert.equal(P.decodeString(Buffer.from('vol-0.ä'), 0, Buffer.byteLength('vol-0.ä')), 'vol-0.ä');
  });
});

describe('nbd export limits and flags', () => {
  it('advertises the stricter of minBlockSize and writeAlignment as the minimum block size', () => {
    const e = new MemoryExport({ name: 'v', size: 1 << 20, minBlockSize: 512, writeAlignment: 4096, maxPayload: (1 << 20) + 100 });
    const l = exportLimits(e);
    assert.equal(l.readAlignment, 512);
    assert.equal(l.writeAlignment, 4096);
    assert.equal(l.preferredBlockSize, 4096);
    assert.equal(l.maxPayload, 1 << 20, 'maximum rounded down to a multiple of the minimum');
  });

  it('rejects exports that cannot be advertised', () => {
    assert.throws(() => exportLimits(new MemoryExport({ name: 'v', size: 1 << 20, minBlockSize: 512, writeAlignment: 3000 })), RangeError);
    assert.throws(() => exportLimits(new MemoryExport({ name: 'v', size: 1 << 20, minBlockSize: 512, writeAlignment: 1 << 17 })), RangeError);
    assert.throws(() => exportLimits(new MemoryExport({ name: 'v', size: 1 << 20, minBlockSize: 512, maxPayload: 100 })), RangeError);
    assert.throws(() => exportLimits(new MemoryExport({ name: 'v', size: 1536, minBlockSize: 512, writeAlignment: 1024 })), RangeError);
  });

  it('sets write features only on writable exports, multi-conn only when the export allows it', () => {
    const rw = new MemoryExport({ name: 'a', size: 4096, multiConn: false });
    const ro = new MemoryExport({ name: 'b', size: 4096, readOnly: true, multiConn: true });
    const f = transmissionFlags(rw, false);
    assert.equal(f & P.NBD_FLAG_HAS_FLAGS, P.NBD_FLAG_HAS_FLAGS);
    for (const bit of [P.NBD_FLAG_SEND_FLUSH, P.NBD_FLAG_SEND_FUA, P.NBD_FLAG_SEND_TRIM, P.NBD_FLAG_SEND_WRITE_ZEROES]) assert.ok(f & bit);
    assert.equal(f & (P.NBD_FLAG_CAN_MULTI_CONN | P.NBD_FLAG_READ_ONLY | P.NBD_FLAG_SEND_DF), 0);
    const g = transmissionFlags(ro, true);
    assert.ok(g & P.NBD_FLAG_READ_ONLY && g & P.NBD_FLAG_CAN_MULTI_CONN && g & P.NBD_FLAG_SEND_DF);
    assert.equal(g & (P.NBD_FLAG_SEND_FUA | P.NBD_FLAG_SEND_TRIM | P.NBD_FLAG_SEND_WRITE_ZEROES), 0);
  });
});

describe('nbd request validation', () => {
  const exp = new MemoryExport({ name: 'v', size: 1 << 20, minBlockSize: 512, writeAlignment: 4096, maxPayload: 1 << 16 });
  const ctx: RequestContext = { limits: exportLimits(exp), readOnly: false, structured: false, metaContextId: 0 };
  const ro: RequestContext = { ...ctx, readOnly: true };
  const cases: [string, RequestContext, number, number, number, number, number][] = [
    ['aligned read', ctx, P.NBD_CMD_READ, 0, 512, 512, 0],
    ['read past the end', ctx, P.NBD_CMD_READ, 0, (1 << 20) - 512, 1024, NBD_EINVAL],
    ['unaligned read', ctx, P.NBD_CMD_READ, 0, 100, 512, NBD_EINVAL],
    ['read over maxPayload', ctx, P.NBD_CMD_READ, 0, 0, 1 << 17, NBD_EINVAL],
    ['read with DF without structured replies', ctx, P.NBD_CMD_READ, P.NBD_CMD_FLAG_DF, 0, 512, NBD_EINVAL],
    ['read with DF and structured replies', { ...ctx, structured: true }, P.NBD_CMD_READ, P.NBD_CMD_FLAG_DF, 0, 512, 0],
    ['read with FUA (accepted, ignored)', ctx, P.NBD_CMD_READ, P.NBD_CMD_FLAG_FUA, 0, 512, 0],
    ['write aligned to 4096', ctx, P.NBD_CMD_WRITE, P.NBD_CMD_FLAG_FUA, 4096, 4096, 0],
    ['write aligned to 512 only', ctx, P.NBD_CMD_WRITE, 0, 512, 512, NBD_EINVAL],
    ['write past the end', ctx, P.NBD_CMD_WRITE, 0, 1 << 20, 4096, NBD_ENOSPC],
    ['write on read-only', ro, P.NBD_CMD_WRITE, 0, 0, 4096, NBD_EPERM],
    ['write with NO_HOLE', ctx, P.NBD_CMD_WRITE, P.NBD_CMD_FLAG_NO_HOLE, 0, 4096, NBD_EINVAL],
    ['trim past the end', ctx, P.NBD_CMD_TRIM, 0, 1 << 20, 4096, NBD_EINVAL],
    ['trim longer than maxPayload', ctx, P.NBD_CMD_TRIM, 0, 0, 1 << 20, 0],
    ['trim on read-only', ro, P.NBD_CMD_TRIM, 0, 0, 4096, NBD_EPERM],
    ['zeroes with NO_HOLE and FUA', ctx, P.NBD_CMD_WRITE_ZEROES, P.NBD_CMD_FLAG_NO_HOLE | P.NBD_CMD_FLAG_FUA, 0, 4096, 0],
    ['zeroes with FAST_ZERO', ctx, P.NBD_CMD_WRITE_ZEROES, P.NBD_CMD_FLAG_FAST_ZERO, 0, 4096, NBD_ENOTSUP],
    ['zeroes past the end', ctx, P.NBD_CMD_WRITE_ZEROES, 0, 1 << 20, 4096, NBD_ENOSPC],
    ['zeroes on read-only', ro, P.NBD_CMD_WRITE_ZEROES, 0, 0, 4096, NBD_EPERM],
    ['flush', ctx, P.NBD_CMD_FLUSH, 0, 0, 0, 0],
    ['flush with an offset', ctx, P.NBD_CMD_FLUSH, 0, 512, 0, NBD_EINVAL],
    ['flush on read-only', ro, P.NBD_CMD_FLUSH, 0, 0, 0, 0],
    ['unknown flag', ctx, P.NBD_CMD_WRITE, 1 << 9, 0, 4096, NBD_EINVAL],
    ['unknown command', ctx, 99, 0, 0, 0, NBD_EINVAL],
    ['block status without a context', ctx, P.NBD_CMD_BLOCK_STATUS, 0, 0, 512, NBD_EINVAL],
    ['block status with a context', { ...ctx, structured: true, metaContextId: 1 }, P.NBD_CMD_BLOCK_STATUS, P.NBD_CMD_FLAG_REQ_ONE, 0, 512, 0],
    ['cache in range', ctx, P.NBD_CMD_CACHE, 0, 0, 512, 0],
    ['offset beyond 2^53', ctx, P.NBD_CMD_READ, 0, 2 ** 60, 512, NBD_EINVAL],
  ];
  for (const [title, c, type, flags, offset, length, want] of cases) {
    it(`${title} → ${want === 0 ? 'accepted' : `error ${want}`}`, () => {
      const why = { reason: '' };
      assert.equal(checkRequest(c, type, flags, offset, length, why), want);
      if (want !== 0) assert.ok(why.reason.length > 0);
    });
  }
});

describe('nbd error mapping', () => {
  it('uses nbdErrno, maps Node error codes, defaults to EIO', () => {
    assert.equal(nbdErrnoOf(new NbdError(NBD_ENOSPC, 'full')), NBD_ENOSPC);
    assert.equal(nbdErrnoOf(Object.assign(new Error('x'), { code: 'EDQUOT' })), NBD_ENOSPC);
    assert.equal(nbdErrnoOf(Object.assign(new Error('x'), { code: 'EROFS' })), NBD_EPERM);
    assert.equal(nbdErrnoOf(new NbdError(0, 'zero is success, not an error')), NBD_EIO);
    assert.equal(nbdErrnoOf(new NbdError(99, 'not an NBD error value')), NBD_EIO);
    assert.equal(nbdErrnoOf(new Error('boom')), NBD_EIO);
    assert.equal(nbdErrnoOf('a string'), NBD_EIO);
    assert.equal(nbdErrnoOf(undefined), NBD_EIO);
  });
});

describe('nbd handshake state machine', () => {
  const provider = new StaticExportProvider([new MemoryExport({ name: 'vol0', size: 1 << 20, description: 'd' })]);
  const script = Buffer.concat([
    Buffer.from([0, 0, 0, 3]),
    P.encodeOption(P.NBD_OPT_LIST),
    P.encodeOption(1234, Buffer.alloc(10)),
    P.encodeOption(P.NBD_OPT_STRUCTURED_REPLY),
    P.encodeOption(P.NBD_OPT_INFO, P.encodeInfoRequest('nope')),
    P.encodeOption(P.NBD_OPT_GO, P.encodeInfoRequest('', [P.NBD_INFO_BLOCK_SIZE])),
    Buffer.from('tail'),
  ]);

  function runScript(splits: number[]): { out: Buffer; kind: string; rest?: Buffer; structured?: boolean } {
    const hs = new Handshake({ provider });
    const out: Buffer[] = [];
    let pos = 0;
    const cuts = [...new Set(splits.map((s) => s % script.length))].sort((a, b) => a - b);
    for (const end of [...cuts, script.length]) {
      const r = hs.feed(script.subarray(pos, end), out);
      pos = end;
      if (r.kind === 'transmission') {
        return { out: Buffer.concat(out), kind: r.kind, rest: Buffer.concat([r.rest, script.subarray(pos)]), structured: r.session.structured };
      }
      if (r.kind === 'close') return { out: Buffer.concat(out), kind: r.kind };
    }
    return { out: Buffer.concat(out), kind: 'more' };
  }

  it('gives the same replies however the bytes are split', () => {
    const whole = runScript([]);
    assert.equal(whole.kind, 'transmission');
    assert.equal(whole.structured, true);
    assert.equal(whole.rest!.toString(), 'tail');
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (splits) => {
        const r = runScript(splits);
        assert.equal(r.kind, 'transmission');
        assert.ok(r.out.equals(whole.out));
        assert.equal(r.rest!.toString(), 'tail');
      }),
      RUNS,
    );
  });

  it('closes on unknown client flags and on a bad option magic', () => {
    const out: Buffer[] = [];
    assert.equal(new Handshake({ provider }).feed(Buffer.from([0, 0, 0, 4]), out).kind, 'close');
    const bad = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('IHAVEOPX'), Buffer.alloc(8)]);
    assert.equal(new Handshake({ provider }).feed(bad, out).kind, 'close');
  });

  it('discards oversized option data and answers TOO_BIG, closes beyond the discard bound', () => {
    const hs = new Handshake({ provider, limits: { maxOptionBytes: 64, maxDiscardOptionBytes: 1000 } });
    const out: Buffer[] = [];
    assert.equal(hs.feed(Buffer.concat([Buffer.from([0, 0, 0, 1]), P.encodeOption(P.NBD_OPT_GO, Buffer.alloc(500))]), out).kind, 'more');
    const rep = P.parseOptionReplyHeader(out[0]!);
    assert.equal(rep.type, P.NBD_REP_ERR_TOO_BIG);
    const hdr = P.encodeOption(P.NBD_OPT_GO).subarray(0, 16);
    hdr.writeUInt32BE(5000, 12);
    assert.equal(hs.feed(hdr, out).kind, 'close');
  });
});

describe('nbd request parser', () => {
  type Ev = string;

  /** A stream of requests: writes (some rejected by the sink), reads, a flush. */
  const reqArb = fc.oneof(
    fc.record({ type: fc.constant(P.NBD_CMD_WRITE), len: fc.integer({ min: 0, max: 3000 }), seed: fc.integer({ min: 0, max: 255 }), accept: fc.boolean() }),
    fc.record({ type: fc.constant(P.NBD_CMD_READ), len: fc.integer({ min: 0, max: 1 << 20 }), seed: fc.constant(0), accept: fc.constant(true) }),
    fc.record({ type: fc.constant(P.NBD_CMD_FLUSH), len: fc.constant(0), seed: fc.constant(0), accept: fc.constant(true) }),
  );

  function runParser(stream: Buffer, cuts: number[], accept: (handle: number) => boolean): Ev[] {
    const evs: Ev[] = [];
    const parser = new RequestParser({
      onHeader: (h) => {
        evs.push(`h${h.handleLo}:${h.type}:${h.offset}:${h.length}`);
        return accept(h.handleLo);
      },
      onPayload: (d) => evs.push(`p${d.length}:${d.toString('hex').slice(0, 16)}:${d.reduce((a, b) => (a + b) & 0xffff, 0)}`),
      onSkipped: () => evs.push('s'),
      onBadMagic: (m) => evs.push(`bad${m}`),
    });
    let pos = 0;
    for (const end of [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b).concat(stream.length)) {
      if (end > pos) parser.feed(stream.subarray(pos, end));
      pos = Math.max(pos, end);
    }
    assert.equal(parser.midRequest, false);
    return evs;
  }

  it('delivers the same requests, payloads and skips however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(reqArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (reqs, cuts) => {
        const stream = Buffer.concat(
          reqs.map((r, i) => {
            const data = r.type === P.NBD_CMD_WRITE ? Buffer.alloc(r.len, r.seed + 1) : undefined;
            return P.encodeRequest(r.type, 0, BigInt(i), i * 512, r.len, data);
          }),
        );
        const accept = (i: number) => reqs[i]!.accept;
        const whole = runParser(stream, [], accept);
        const expectedWrites = reqs.filter((r) => r.type === P.NBD_CMD_WRITE).length;
        assert.equal(whole.filter((e) => e.startsWith('p') || e === 's').length, expectedWrites);
        assert.deepEqual(runParser(stream, cuts, accept), whole);
      }),
      RUNS,
    );
  });

  it('stops at a bad magic and reports it once', () => {
    const good = P.encodeRequest(P.NBD_CMD_FLUSH, 0, 1n, 0, 0);
    const bad = P.encodeRequest(P.NBD_CMD_FLUSH, 0, 2n, 0, 0);
    bad.writeUInt32BE(0x12345678, 0);
    const evs = runParser(Buffer.concat([good, bad, good]), [30], () => true);
    assert.deepEqual(evs, [`h1:${P.NBD_CMD_FLUSH}:0:0`, `bad${0x12345678}`]);
  });
});

describe('nbd reply batch', () => {
  const slot = (o: Partial<ReplySlot>): ReplySlot => ({ type: P.NBD_CMD_WRITE, handleHi: 0, handleLo: 1, offset: 0, length: 0, error: 0, message: '', data: undefined, ...o });

  it('simple replies: headers stay contiguous, read data is passed through without a copy', () => {
    const data = Buffer.alloc(512, 9);
    const parts = encodeReplyBatch([slot({ handleLo: 1 }), slot({ type: P.NBD_CMD_READ, handleLo: 2, length: 512, data }), slot({ handleLo: 3, error: 22, message: 'x' })], false, 0);
    assert.equal(parts.length, 3);
    assert.equal(parts[0]!.length, 32);
    assert.equal(parts[1], data, 'the very same buffer');
    assert.equal(parts[2]!.length, 16);
    const b = Buffer.concat(parts);
    assert.deepEqual([b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(12)], [P.NBD_SIMPLE_REPLY_MAGIC, 0, 1]);
    assert.deepEqual([b.readUInt32BE(16 + 4), b.readUInt32BE(16 + 12)], [0, 2]);
    assert.deepEqual([b.readUInt32BE(544 + 4), b.readUInt32BE(544 + 12)], [22, 3]);
  });

  it('structured replies: OFFSET_DATA for reads, NONE for empty reads, ERROR chunks with the message', () => {
    const data = Buffer.alloc(1024, 1);
    const parts = encodeReplyBatch(
      [slot({ type: P.NBD_CMD_READ, offset: 4096, length: 1024, data }), slot({ type: P.NBD_CMD_READ, handleLo: 2 }), slot({ handleLo: 3, error: 5, message: 'm'.repeat(1000) }), slot({ handleLo: 4 })],
      true,
      0,
    );
    const b = Buffer.concat(parts);
    assert.deepEqual([b.readUInt16BE(4), b.readUInt16BE(6), b.readUInt32BE(16), Number(b.readBigUInt64BE(20))], [P.NBD_REPLY_FLAG_DONE, P.NBD_REPLY_TYPE_OFFSET_DATA, 1032, 4096]);
    let pos = 28 + 1024;
    assert.deepEqual([b.readUInt16BE(pos + 6), b.readUInt32BE(pos + 16)], [P.NBD_REPLY_TYPE_NONE, 0]);
    pos += 20;
    assert.equal(b.readUInt16BE(pos + 6), P.NBD_REPLY_TYPE_ERROR);
    assert.equal(b.readUInt32BE(pos + 20), 5);
    assert.equal(b.readUInt16BE(pos + 24), MAX_MESSAGE_CHARS, 'long messages are cut');
    pos += 26 + MAX_MESSAGE_CHARS;
    assert.equal(b.readUInt32BE(pos), P.NBD_SIMPLE_REPLY_MAGIC, 'other successes use simple replies');
    assert.equal(b.length, pos + 16);
  });
});

describe('nbd read buffer pool', () => {
  it('hands out power-of-two classes from 4 KiB, reuses released buffers, keeps at most its cap idle', () => {
    const pool = new BufferPool(64 * 1024);
    const a = pool.acquire(100);
    assert.equal(a.length, 4096);
    const b = pool.acquire(5000);
    assert.equal(b.length, 8192);
    pool.release(a);
    assert.equal(pool.acquire(4096), a, 'reused');
    const big = pool.acquire(40 * 1024);
    assert.equal(big.length, 65536);
    pool.release(b);
    pool.release(big);
    assert.equal(pool.pooledBytes, 8192, 'the 64 KiB buffer did not fit under the cap');
  });
});
