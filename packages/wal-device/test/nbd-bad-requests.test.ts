/**
 * A raw-socket client sends bad things; each case checks the exact answer, then that the server
 * still serves a good client.
 */
import assert from 'node:assert/strict';
import { NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_ENOTSUP, NBD_EPERM, NBD_ESHUTDOWN, NbdError } from '../src/nbd/export.js';
import { MemoryExport } from '../src/nbd/memory-export.js';
import * as P from '../src/nbd/protocol.js';
import { assertHealthy, eventually, memoryExport, startFixture, withoutReadInto, type Fixture } from './support/nbd-fixture.js';
import { RawNbdClient } from './support/nbd-raw-client.js';

const MiB = 1024 * 1024;

describe('nbd server: bad requests and edge cases (raw client)', () => {
  let fx: Fixture;
  let vol: MemoryExport;
  let ro: MemoryExport;
  let aligned: MemoryExport;
  let flaky: MemoryExport;
  const clients: RawNbdClient[] = [];

  async function client(): Promise<RawNbdClient> {
    const c = await RawNbdClient.connect({ path: fx.socketPath });
    clients.push(c);
    return c;
  }

  before(async () => {
    vol = memoryExport({ name: 'vol', size: 4 * MiB, maxPayload: MiB, description: 'main test volume' });
    ro = memoryExport({ name: 'ro', size: MiB, readOnly: true });
    aligned = memoryExport({ name: 'aligned', size: MiB, minBlockSize: 512, writeAlignment: 4096 });
    flaky = memoryExport({ name: 'flaky', size: MiB });
    fx = await startFixture([vol, ro, aligned, flaky]);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    vol.hook = undefined;
    flaky.hook = undefined;
    await assertHealthy({ path: fx.socketPath }, 'vol');
  });

  after(async () => {
    await fx.stop();
    assert.equal(fx.server.connectionCount, 0);
  });

  // ---------------------------------------------------------------- handshake

  it('greets with FIXED_NEWSTYLE | NO_ZEROES', async () => {
    const c = await client();
    assert.equal(await c.greeting(), P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
  });

  it('closes the connection on unknown client flags', async () => {
    const c = await client();
    await c.greeting();
    c.sendClientFlags(0x10);
    assert.ok(await c.closedWithin(5000));
  });

  it('closes the connection on garbage during option haggling', async () => {
    const c = await client();
    await c.start();
    c.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.ok(await c.closedWithin(5000));
  });

  it('answers an unknown option with NBD_REP_ERR_UNSUP and carries on', async () => {
    const c = await client();
    await c.start();
    const r = await c.option(0x1234, Buffer.from('whatever'));
    assert.equal(r.length, 1);
    assert.equal(r[0]!.type, P.NBD_REP_ERR_UNSUP);
    assert.equal(r[0]!.option, 0x1234);
    const t = await c.option(P.NBD_OPT_STARTTLS);
    assert.equal(t[0]!.type, P.NBD_REP_ERR_UNSUP, 'no TLS yet');
    const go = await c.negotiate('vol');
    assert.equal(go.size, 4 * MiB);
  });

  it('NBD_OPT_LIST lists every export with its description, then ACK; with data it is INVALID', async () => {
    const c = await client();
    await c.start();
    const r = await c.option(P.NBD_OPT_LIST);
    assert.equal(r.at(-1)!.type, P.NBD_REP_ACK);
    const servers = r.filter((x) => x.type === P.NBD_REP_SERVER).map((x) => {
      const n = x.data.readUInt32BE(0);
      return [x.data.subarray(4, 4 + n).toString(), x.data.subarray(4 + n).toString()];
    });
    assert.deepEqual(servers, [['vol', 'main test volume'], ['ro', ''], ['aligned', ''], ['flaky', '']]);
    const bad = await c.option(P.NBD_OPT_LIST, Buffer.from('x'));
    assert.equal(bad[0]!.type, P.NBD_REP_ERR_INVALID);
  });

  it('NBD_OPT_INFO of an unknown export is NBD_REP_ERR_UNKNOWN; malformed INFO is INVALID', async () => {
    const c = await client();
    await c.start();
    const r = await c.option(P.NBD_OPT_INFO, P.encodeInfoRequest('nope'));
    assert.deepEqual(r.map((x) => x.type), [P.NBD_REP_ERR_UNKNOWN]);
    assert.match(r[0]!.data.toString(), /nope/);
    const empty = await c.option(P.NBD_OPT_INFO, P.encodeInfoRequest(''));
    assert.equal(empty[0]!.type, P.NBD_REP_ERR_UNKNOWN, 'several exports: no default');
    const bad = P.encodeInfoRequest('vol');
    bad.writeUInt32BE(1000, 0);
    assert.equal((await c.option(P.NBD_OPT_INFO, bad))[0]!.type, P.NBD_REP_ERR_INVALID);
    const info = await c.option(P.NBD_OPT_INFO, P.encodeInfoRequest('vol', [P.NBD_INFO_BLOCK_SIZE]));
    const types = info.filter((x) => x.type === P.NBD_REP_INFO).map((x) => x.data.readUInt16BE(0));
    assert.deepEqual(types.sort(), [P.NBD_INFO_EXPORT, P.NBD_INFO_NAME, P.NBD_INFO_DESCRIPTION, P.NBD_INFO_BLOCK_SIZE].sort());
    assert.equal(info.at(-1)!.type, P.NBD_REP_ACK);
  });

  it('the advertised minimum block size is the write alignment', async () => {
    const c = await client();
    const { replies } = await c.go('aligned');
    const bs = replies.find((r) => r.type === P.NBD_REP_INFO && r.data.readUInt16BE(0) === P.NBD_INFO_BLOCK_SIZE)!;
    assert.deepEqual([bs.data.readUInt32BE(2), bs.data.readUInt32BE(6), bs.data.readUInt32BE(10)], [4096, 4096, 32 * MiB]);
  });

  it('NBD_OPT_ABORT is acknowledged and the connection closes', async () => {
    const c = await client();
    await c.start();
    const r = await c.option(P.NBD_OPT_ABORT);
    assert.equal(r[0]!.type, P.NBD_REP_ACK);
    assert.ok(await c.closedWithin(5000));
  });

  it('NBD_OPT_EXPORT_NAME: 10-byte reply with NO_ZEROES, 134 without; unknown name closes', async () => {
    const a = await client();
    await a.start();
    a.sendOption(P.NBD_OPT_EXPORT_NAME, Buffer.from('vol'));
    const r = await a.read(10);
    assert.equal(P.readU64BE(r, 0), 4 * MiB);
    assert.ok(r.readUInt16BE(8) & P.NBD_FLAG_HAS_FLAGS);
    const w = await a.write(0, Buffer.alloc(512, 1));
    assert.equal(w.error, 0);

    const b = await client();
    await b.start(P.NBD_FLAG_C_FIXED_NEWSTYLE);
    b.sendOption(P.NBD_OPT_EXPORT_NAME, Buffer.from('vol'));
    const z = await b.read(134);
    assert.ok(z.subarray(10).every((x) => x === 0));
    const rd = await b.read_(0, 512);
    assert.ok(rd.data!.equals(Buffer.alloc(512, 1)));

    const c = await client();
    await c.start();
    c.sendOption(P.NBD_OPT_EXPORT_NAME, Buffer.from('nope'));
    assert.ok(await c.closedWithin(5000));
  });

  it('meta contexts: require structured replies; LIST and SET offer base:allocation', async () => {
    const c = await client();
    await c.start();
    const early = await c.option(P.NBD_OPT_SET_META_CONTEXT, P.encodeMetaContextRequest('vol', [P.BASE_ALLOCATION]));
    assert.equal(early[0]!.type, P.NBD_REP_ERR_INVALID);
    await c.option(P.NBD_OPT_STRUCTURED_REPLY);
    const list = await c.option(P.NBD_OPT_LIST_META_CONTEXT, P.encodeMetaContextRequest('vol', []));
    assert.deepEqual(list.map((x) => x.type), [P.NBD_REP_META_CONTEXT, P.NBD_REP_ACK]);
    assert.equal(list[0]!.data.subarray(4).toString(), P.BASE_ALLOCATION);
    const other = await c.option(P.NBD_OPT_SET_META_CONTEXT, P.encodeMetaContextRequest('vol', ['qemu:dirty-bitmap:x']));
    assert.deepEqual(other.map((x) => x.type), [P.NBD_REP_ACK], 'unknown namespaces select nothing');
    const unknown = await c.option(P.NBD_OPT_SET_META_CONTEXT, P.encodeMetaContextRequest('nope', [P.BASE_ALLOCATION]));
    assert.equal(unknown[0]!.type, P.NBD_REP_ERR_UNKNOWN);
  });

  it('option data over the bound is discarded and answered TOO_BIG', async () => {
    const c = await client();
    await c.start();
    const r = await c.option(P.NBD_OPT_GO, Buffer.alloc(100_000));
    assert.equal(r[0]!.type, P.NBD_REP_ERR_TOO_BIG);
    const u = await c.option(0x777, Buffer.alloc(100_000));
    assert.equal(u[0]!.type, P.NBD_REP_ERR_UNSUP);
    assert.equal((await c.negotiate('vol')).size, 4 * MiB);
  });

  it('option data beyond the discard bound closes the connection', async () => {
    const c = await client();
    await c.start();
    const h = P.encodeOption(P.NBD_OPT_GO);
    h.writeUInt32BE(0xffffffff, 12);
    c.send(h);
    assert.ok(await c.closedWithin(5000));
  });

  it('a client that stops in the middle of an option is closed when it goes away; no hang', async () => {
    const c = await client();
    await c.start();
    c.send(P.encodeOption(P.NBD_OPT_GO, P.encodeInfoRequest('vol')).subarray(0, 20));
    await new Promise((r) => setTimeout(r, 50));
    c.close();
    await eventually(() => fx.server.connectionCount === 0, 5000, 'connection gone');
  });

  // ---------------------------------------------------------------- transmission

  it('bad request magic closes the connection (after answering earlier requests)', async () => {
    const c = await client();
    await c.go('vol');
    const ok = c.write(0, Buffer.alloc(4096, 3));
    const bad = P.encodeRequest(P.NBD_CMD_READ, 0, 99n, 0, 512);
    bad.writeUInt32BE(0xdeadbeef, 0);
    c.send(bad);
    assert.equal((await ok).error, 0);
    assert.ok(await c.closedWithin(5000));
  });

  it('unknown command → EINVAL; the connection goes on', async () => {
    const c = await client();
    await c.go('vol');
    assert.equal((await c.request(42, 0, 0)).error, NBD_EINVAL);
    assert.equal((await c.request(P.NBD_CMD_WRITE_ZEROES, 0, 4096, { flags: 1 << 12 })).error, NBD_EINVAL, 'unknown flag');
    assert.equal((await c.request(P.NBD_CMD_FLUSH, 512, 0)).error, NBD_EINVAL, 'flush with an offset');
    assert.equal((await c.read_(0, 512)).error, 0);
  });

  it('read beyond the end → EINVAL; write beyond the end → ENOSPC (payload consumed)', async () => {
    const c = await client();
    await c.go('vol');
    assert.equal((await c.read_(4 * MiB - 512, 1024)).error, NBD_EINVAL);
    assert.equal((await c.read_(2 ** 62, 512)).error, NBD_EINVAL);
    assert.equal((await c.write(4 * MiB, Buffer.alloc(4096, 9))).error, NBD_ENOSPC);
    assert.equal((await c.request(P.NBD_CMD_TRIM, 4 * MiB, 4096)).error, NBD_EINVAL);
    assert.equal((await c.request(P.NBD_CMD_WRITE_ZEROES, 4 * MiB - 512, 1024)).error, NBD_ENOSPC);
    const w = await c.write(4 * MiB - 4096, Buffer.alloc(4096, 9));
    assert.equal(w.error, 0, 'framing kept after the rejected payload');
    assert.ok((await c.read_(4 * MiB - 4096, 4096)).data!.equals(Buffer.alloc(4096, 9)));
  });

  it('structured replies: a read error is an error chunk with a message; READ never gets a simple reply', async () => {
    const c = await client();
    await c.go('vol', { structured: true });
    const r = await c.read_(4 * MiB, 512);
    assert.equal(r.error, NBD_EINVAL);
    assert.equal(r.structured, true);
    assert.equal(r.chunks.length, 1);
    assert.equal(r.chunks[0]!.type, P.NBD_REPLY_TYPE_ERROR);
    assert.match(r.message!, /READ: range .* beyond the export size/);
    const z = await c.read_(0, 0);
    assert.equal(z.error, 0);
    assert.deepEqual(z.chunks.map((x) => [x.type, x.flags]), [[P.NBD_REPLY_TYPE_NONE, P.NBD_REPLY_FLAG_DONE]]);
    const d = await c.read_(0, 4096, P.NBD_CMD_FLAG_DF);
    assert.deepEqual(d.chunks.map((x) => [x.type, x.flags]), [[P.NBD_REPLY_TYPE_OFFSET_DATA, P.NBD_REPLY_FLAG_DONE]]);
  });

  it('unaligned write, trim and zeroes → EINVAL (write alignment 4096)', async () => {
    const c = await client();
    await c.go('aligned');
    assert.equal((await c.write(512, Buffer.alloc(4096))).error, NBD_EINVAL);
    assert.equal((await c.write(0, Buffer.alloc(1024))).error, NBD_EINVAL);
    assert.equal((await c.request(P.NBD_CMD_TRIM, 0, 512)).error, NBD_EINVAL);
    assert.equal((await c.request(P.NBD_CMD_WRITE_ZEROES, 2048, 4096)).error, NBD_EINVAL);
    assert.equal((await c.read_(512, 512)).error, 0, 'reads need only the 512-byte alignment');
    assert.equal((await c.read_(100, 512)).error, NBD_EINVAL);
    assert.equal((await c.write(4096, Buffer.alloc(4096, 1))).error, 0);
  });

  it('a write payload over maxPayload is read, discarded and answered EINVAL', async () => {
    const c = await client();
    await c.go('vol');
    const big = Buffer.alloc(3 * MiB, 7);
    const before = vol.counters.writes;
    assert.equal((await c.write(0, big)).error, NBD_EINVAL);
    assert.equal(vol.counters.writes, before, 'the export never saw it');
    assert.equal((await c.read_(0, MiB + 512)).error, NBD_EINVAL);
    assert.equal((await c.write(0, Buffer.alloc(MiB, 2))).error, 0, 'exactly maxPayload is fine');
  });

  it('writes, trims and zeroes on a read-only export → EPERM; reads and flush work', async () => {
    const c = await client();
    const { flags } = await c.go('ro');
    assert.ok(flags & P.NBD_FLAG_READ_ONLY);
    assert.equal((await c.write(0, Buffer.alloc(4096))).error, NBD_EPERM);
    assert.equal((await c.request(P.NBD_CMD_TRIM, 0, 4096)).error, NBD_EPERM);
    assert.equal((await c.request(P.NBD_CMD_WRITE_ZEROES, 0, 4096)).error, NBD_EPERM);
    assert.equal((await c.read_(0, 4096)).error, 0);
    assert.equal((await c.request(P.NBD_CMD_FLUSH, 0, 0)).error, 0);
  });

  it('FAST_ZERO → ENOTSUP without touching the data; NO_HOLE and FUA reach the export', async () => {
    const c = await client();
    await c.go('vol');
    await c.write(0, Buffer.alloc(4096, 1));
    assert.equal((await c.request(P.NBD_CMD_WRITE_ZEROES, 0, 4096, { flags: P.NBD_CMD_FLAG_FAST_ZERO })).error, NBD_ENOTSUP);
    assert.ok((await c.read_(0, 4096)).data!.equals(Buffer.alloc(4096, 1)));
    const noHole = vol.counters.noHole;
    const fua = vol.counters.fua;
    assert.equal((await c.request(P.NBD_CMD_WRITE_ZEROES, 0, 4096, { flags: P.NBD_CMD_FLAG_NO_HOLE | P.NBD_CMD_FLAG_FUA })).error, 0);
    assert.equal((await c.write(8192, Buffer.alloc(512), P.NBD_CMD_FLAG_FUA)).error, 0);
    assert.equal(vol.counters.noHole, noHole + 1);
    assert.equal(vol.counters.fua, fua + 2);
    assert.ok((await c.read_(0, 4096)).data!.equals(Buffer.alloc(4096)));
  });

  it('BLOCK_STATUS: EINVAL without a context; one data extent with base:allocation', async () => {
    const a = await client();
    await a.go('vol', { structured: true });
    assert.equal((await a.request(P.NBD_CMD_BLOCK_STATUS, 0, 4096)).error, NBD_EINVAL);
    const b = await client();
    await b.go('vol', { structured: true, metaContext: true });
    const r = await b.request(P.NBD_CMD_BLOCK_STATUS, 4096, 65536);
    assert.equal(r.error, 0);
    assert.equal(r.chunks.length, 1);
    const ch = r.chunks[0]!;
    assert.equal(ch.type, P.NBD_REPLY_TYPE_BLOCK_STATUS);
    assert.deepEqual([ch.payload.readUInt32BE(0), ch.payload.readUInt32BE(4), ch.payload.readUInt32BE(8)], [1, 65536, 0]);
    assert.equal((await b.request(P.NBD_CMD_BLOCK_STATUS, 4 * MiB, 512)).error, NBD_EINVAL);
  });

  it('export errors become their nbdErrno (default EIO) and never leak internals', async () => {
    const c = await client();
    await c.go('flaky', { structured: true });
    flaky.hook = (op) => {
      if (op.kind === 'write') throw new NbdError(NBD_ENOSPC, 'log device full');
      if (op.kind === 'read') throw new Error('secret /var/lib/blockwal/internal path');
      if (op.kind === 'flush') return Promise.reject(Object.assign(new Error('x'), { code: 'EDQUOT' }));
      return undefined;
    };
    const w = await c.write(0, Buffer.alloc(4096));
    assert.equal(w.error, NBD_ENOSPC);
    assert.equal(w.message, 'WRITE: log device full');
    const r = await c.read_(0, 4096);
    assert.equal(r.error, NBD_EIO);
    assert.equal(r.message, 'READ: failed');
    assert.equal((await c.request(P.NBD_CMD_FLUSH, 0, 0)).error, NBD_ENOSPC);
    // Simple replies carry only the number.
    const s = await client();
    await s.go('flaky');
    assert.equal((await s.read_(0, 512)).error, NBD_EIO);
    assert.equal(fx.server.statsOf('flaky').errors >= 4, true);
  });

  it('an export whose read returns the wrong length gets EIO, not a corrupt stream', async () => {
    const short = memoryExport({ name: 'short', size: MiB });
    const orig = short.read.bind(short);
    let bad = true;
    short.read = (o, l) => orig(o, l).then((b) => (bad ? b.subarray(0, l - 1) : b));
    fx.provider.add(withoutReadInto(short));
    try {
      const c = await client();
      await c.go('short', { structured: true });
      assert.equal((await c.read_(0, 4096)).error, NBD_EIO);
      assert.equal((await c.read_(0, 512)).error, NBD_EIO);
      bad = false;
      assert.equal((await c.read_(0, 512)).error, 0);
    } finally {
      fx.provider.remove('short');
    }
  });

  it('a truncated request then close: no hang, no crash', async () => {
    for (const cut of [5, 27, 28 + 100]) {
      const c = await client();
      await c.go('vol');
      c.send(P.encodeRequest(P.NBD_CMD_WRITE, 0, 1n, 0, 4096, Buffer.alloc(4096)).subarray(0, cut));
      await new Promise((r) => setTimeout(r, 20));
      c.close();
    }
    await eventually(() => fx.server.connectionCount === 0, 5000, 'connections closed');
  });

  it('DISC with requests in flight: they complete and are answered first', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    vol.hook = (op) => (op.kind === 'write' ? gate : undefined);
    const c = await client();
    await c.go('vol');
    const writes = [0, 1, 2].map((i) => c.write(i * 4096, Buffer.alloc(4096, 0x40 + i)));
    c.disconnect();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.inFlight, 3, 'nothing answered while the export is busy');
    release();
    assert.deepEqual((await Promise.all(writes)).map((r) => r.error), [0, 0, 0]);
    assert.ok(await c.closedWithin(5000));
    vol.hook = undefined;
    for (let i = 0; i < 3; i++) assert.ok(vol.readSync(i * 4096, 4096).equals(Buffer.alloc(4096, 0x40 + i)));
  });

  it('replies go out of order: a fast read overtakes a slow write', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    vol.hook = (op) => (op.kind === 'write' ? gate : undefined);
    const c = await client();
    await c.go('vol');
    const order: string[] = [];
    const w = c.write(0, Buffer.alloc(4096)).then(() => order.push('write'));
    const r = c.read_(65536, 4096).then(() => order.push('read'));
    await r;
    release();
    await w;
    assert.deepEqual(order, ['read', 'write']);
  });

  it('back-pressure: the server stops reading while too many bytes are in flight', async () => {
    const small = memoryExport({ name: 'bp', size: 8 * MiB });
    const fix2 = await startFixture([small], { limits: { maxInFlightBytes: 256 * 1024 }, tcp: false });
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let seen = 0;
      small.hook = () => {
        seen++;
        return gate;
      };
      const c = await RawNbdClient.connect({ path: fix2.socketPath });
      clients.push(c);
      await c.go('bp');
      const writes = Array.from({ length: 64 }, (_, i) => c.write(i * 65536, Buffer.alloc(65536, i)));
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(seen <= 8, `export saw ${seen} writes while paused (bound 256 KiB of 64 KiB writes)`);
      small.hook = undefined;
      release();
      assert.ok((await Promise.all(writes)).every((r) => r.error === 0));
      assert.ok(small.readSync(63 * 65536, 65536).equals(Buffer.alloc(65536, 63)));
    } finally {
      await fix2.stop();
    }
  });

  it('close(): in-flight requests finish, later requests get ESHUTDOWN, then connections close', async () => {
    const e = memoryExport({ name: 'sd', size: MiB });
    const fix2 = await startFixture([e], { tcp: false });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    e.hook = (op) => (op.kind === 'write' ? gate : undefined);
    const c = await RawNbdClient.connect({ path: fix2.socketPath });
    clients.push(c);
    await c.go('sd');
    const w = c.write(0, Buffer.alloc(4096, 1));
    await eventually(() => e.counters.writes === 1, 5000, 'write in flight');
    const closing = fix2.server.close();
    const late = c.read_(0, 512);
    assert.equal((await late).error, NBD_ESHUTDOWN);
    const idle = await RawNbdClient.connect({ path: fix2.socketPath }).catch(() => undefined);
    if (idle) {
      clients.push(idle);
      assert.ok(await idle.closedWithin(5000), 'new connections are refused while shutting down');
    }
    release();
    assert.equal((await w).error, 0);
    await closing;
    assert.ok(await c.closedWithin(5000));
    assert.equal(fix2.server.connectionCount, 0);
    await fix2.stop();
  });

  it('counts requests, bytes and errors per export', async () => {
    const before = { ...fx.server.statsOf('vol') };
    const c = await client();
    await c.go('vol');
    await c.write(0, Buffer.alloc(8192));
    await c.read_(0, 4096);
    await c.read_(4 * MiB, 512);
    const s = fx.server.statsOf('vol');
    assert.equal(s.requests - before.requests, 3);
    assert.equal(s.bytesWritten - before.bytesWritten, 8192);
    assert.equal(s.bytesRead - before.bytesRead, 4096);
    assert.equal(s.errors - before.errors, 1);
    assert.equal(s.connections, before.connections + 1);
    assert.ok(fx.server.stats().vol);
  });
});

describe('nbd server: default export', () => {
  it('an empty name selects the only export; with several exports it is unknown', async () => {
    const fx = await startFixture([new MemoryExport({ name: 'only', size: 1 << 20 })], { tcp: false });
    try {
      const c = await RawNbdClient.connect({ path: fx.socketPath });
      const { size, replies } = await c.go('');
      assert.equal(size, 1 << 20);
      const name = replies.find((r) => r.type === P.NBD_REP_INFO && r.data.readUInt16BE(0) === P.NBD_INFO_NAME)!;
      assert.equal(name.data.subarray(2).toString(), 'only', 'NBD_INFO_NAME gives the canonical name');
      c.close();
    } finally {
      await fx.stop();
    }
  });
});

describe('nbd server: logging', () => {
  it('logs nothing without a logger; a throwing logger breaks nothing', async () => {
    let calls = 0;
    const e = new MemoryExport({ name: 'v', size: 1 << 20 });
    e.hook = (op) => {
      if (op.kind === 'flush') throw new Error('boom');
    };
    const fx = await startFixture([e], {
      tcp: false,
      logger: () => {
        calls++;
        throw new Error('logger failure');
      },
    });
    try {
      const c = await RawNbdClient.connect({ path: fx.socketPath });
      await c.go('v');
      assert.equal((await c.request(P.NBD_CMD_FLUSH, 0, 0)).error, NBD_EIO);
      assert.equal((await c.read_(1 << 20, 512)).error, NBD_EINVAL);
      c.close();
      await assertHealthy({ path: fx.socketPath }, 'v');
      assert.ok(calls > 0);
    } finally {
      await fx.stop();
    }
  });
});
