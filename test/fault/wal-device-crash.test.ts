/**
 * Crash tests of the WAL device: the serving process is killed (SIGKILL) at a random moment while
 * a client has many writes, trims and flushes in flight, then restarted. After each restart:
 *  - every write acknowledged before the last completed FLUSH is there;
 *  - the device holds exactly the state after some prefix of the operations in the order they
 *    were sent (the log is a prefix, and the data device is never ahead of the durable log);
 *  - every block's content is intact (no torn block).
 * Half of the rounds also simulate a power cut (BLOCKWAL_SIMULATE_POWER_LOSS=1: whatever was not
 * fdatasync'ed may be lost, in any order). After the last round the log, replayed on a zero image,
 * gives the data device exactly.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { LogDeviceReader, SequentialWriter, catLogDevice, redoWlog, openImage, closeImage } from '@blockwal/core';
import { NbdClient, createWalDevice, offlineStatus } from '@blockwal/wal-device';
import { scratchDir, zeroImage, fileSha256 } from '../support/scratch.js';
import { startDevice } from '../support/wal-device-proc.js';

const ROUNDS = Number(process.env['BLOCKWAL_CRASH_ROUNDS'] ?? 60);
const BLOCK = 4096;
const SIZE = 16 * 1024 * 1024;
const BLOCKS = SIZE / BLOCK;

/** Content of block `b` written by op `id` (id 0: zeros). Stamped so that it names its writer. */
function blockContent(id: number, b: number): Buffer {
  const buf = Buffer.alloc(BLOCK);
  if (id === 0) return buf;
  buf.writeUInt32LE(id, 0);
  buf.writeUInt32LE(b, 4);
  const h = createHash('sha256').update(`${id}/${b}`).digest();
  for (let i = 8; i < BLOCK; i += 32) h.copy(buf, i, 0, Math.min(32, BLOCK - i));
  return buf;
}

/** Which op wrote this block (0 = zeros); throws when the content is not exactly a known one. */
function writerOf(buf: Buffer, b: number): number {
  const id = buf.readUInt32LE(0);
  if (id === 0 && buf.every((x) => x === 0)) return 0;
  assert.ok(blockContent(id, b).equals(buf), `block ${b} is torn or foreign (stamp ${id})`);
  return id;
}

interface Op {
  id: number; // 0 for a zeroing op
  start: number;
  count: number;
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

describe('WAL device crash recovery (SIGKILL and simulated power cuts)', function () {
  this.timeout(0);
  const dir = scratchDir();
  after(() => dir.cleanup());

  it(`keeps every write acknowledged before the last flush, as a prefix of the log, over ${ROUNDS} kills`, async () => {
    const data = dir.file('data');
    const log = dir.file('log');
    const sock = dir.file('nbd.sock');
    createWalDevice({ dataPath: data, logPath: log, size: SIZE, logSize: 1024 * 1024 * 1024, pbs: 4096, name: 'crash' });
    let state = new Array<number>(BLOCKS).fill(0); // block -> writer id, as recovered
    let nextId = 1;
    const rnd = rng(42);
    for (let round = 0; round < ROUNDS; round++) {
      const powerCut = round % 2 === 1;
      const proc = await startDevice(['--data', data, '--log', log, '--socket', sock], powerCut ? { BLOCKWAL_SIMULATE_POWER_LOSS: '1' } : {});
      const client = await NbdClient.connect({ socketPath: sock }, 'crash');
      // After a restart the device must hold exactly the state we recovered last time.
      if (round > 0) await verifyExactly(client, state);
      const ops: Op[] = [];
      let guaranteed = 0; // ops[0..guaranteed) acknowledged before the last completed flush
      let acked = 0;
      const ackedFlags: boolean[] = [];
      let stop = false;
      const killAt = 30 + Math.floor(rnd() * 200);
      const inflight = new Set<Promise<unknown>>();
      const killer = new Promise<void>((resolve) => setTimeout(resolve, killAt));
      void killer.then(() => {
        stop = true;
        proc.child.kill('SIGKILL');
      });
      const run = async () => {
        while (!stop) {
          if (inflight.size >= 16) {
            await Promise.race(inflight);
            continue;
          }
          const r = rnd();
          if (r < (powerCut ? 0.01 : 0.08)) {
            // FLUSH: covers every op acknowledged now
            const covered = ackedPrefix(ackedFlags);
            const p = client.flush().then(
              () => (guaranteed = Math.max(guaranteed, covered)),
              () => undefined,
            );
            track(inflight, p);
            continue;
          }
          const count = 1 + Math.floor(rnd() * 16);
          const start = Math.floor(rnd() * (BLOCKS - count));
          const zero = r < 0.15;
          const op: Op = { id: zero ? 0 : nextId++, start, count };
          const i = ops.push(op) - 1;
          ackedFlags.push(false);
          const req = zero
            ? client.trim(start * BLOCK, count * BLOCK)
            : client.write(start * BLOCK, Buffer.concat(Array.from({ length: count }, (_, k) => blockContent(op.id, start + k))));
          track(
            inflight,
            req.then(
              () => {
                ackedFlags[i] = true;
                acked++;
              },
              () => undefined,
            ),
          );
        }
      };
      await Promise.all([run(), killer]);
      await proc.exited;
      client.destroy();
      // Restart (recovery) and read everything back.
      const proc2 = await startDevice(['--data', data, '--log', log, '--socket', sock]);
      const c2 = await NbdClient.connect({ socketPath: sock }, 'crash');
      const recovered = new Array<number>(BLOCKS);
      for (let b = 0; b < BLOCKS; b += 256) {
        const buf = await c2.read(b * BLOCK, 256 * BLOCK);
        for (let k = 0; k < 256; k++) recovered[b + k] = writerOf(buf.subarray(k * BLOCK, (k + 1) * BLOCK), b + k);
      }
      await c2.close();
      proc2.child.kill('SIGTERM');
      assert.equal(await proc2.exited, 0, proc2.output());
      // After a process kill the page cache survives: every acknowledged op (they are in the log) must
      // be there. After a power cut only those acknowledged before the last completed flush must.
      const atKill = ackedPrefix(ackedFlags);
      const need = powerCut ? guaranteed : atKill;
      const prefix = matchingPrefix(state, ops, recovered, need);
      assert.ok(prefix >= 0, `round ${round}${powerCut ? ' (power cut)' : ''}: the device is not the state after any prefix of at least ${need} of the ${ops.length} ops (${acked} acknowledged)`);
      state = recovered;
    }
    // The whole history is in the log (the ring never wrapped): it rebuilds the data device.
    const st = offlineStatus(log);
    assert.ok(st.clean && !st.overflow && st.oldestLsid === 0 && st.endLsid < st.ringBufferSize, JSON.stringify(st));
    const wlog = dir.file('all.wlog');
    const fd = openSync(log, 'r');
    const out = openSync(wlog, 'w');
    const w = new SequentialWriter(out, { file: wlog });
    catLogDevice(new LogDeviceReader(fd, log), w);
    w.flush();
    closeSync(fd);
    closeSync(out);
    const img = openImage(zeroImage(dir.file('rebuilt'), SIZE));
    const wfd = openSync(wlog, 'r');
    redoWlog(wfd, wlog, img);
    closeSync(wfd);
    closeImage(img);
    assert.equal(fileSha256(dir.file('rebuilt')), fileSha256(data));
  });
});

function track(set: Set<Promise<unknown>>, p: Promise<unknown>): void {
  set.add(p);
  void p.finally(() => set.delete(p));
}

/** Number of leading ops all acknowledged. */
function ackedPrefix(flags: boolean[]): number {
  let n = 0;
  while (n < flags.length && flags[n]) n++;
  return n;
}

/**
 * The smallest prefix length P ≥ min such that applying ops[0..P) to `before` gives `after`,
 * or -1. (Acknowledged ops need not be a prefix, but the log is: the flush guarantee covers the
 * leading run of acknowledged ops.)
 */
function matchingPrefix(before: number[], ops: Op[], after: number[], min: number): number {
  const cur = before.slice();
  let mismatches = 0;
  for (let b = 0; b < cur.length; b++) if (cur[b] !== after[b]) mismatches++;
  const apply = (op: Op) => {
    for (let k = 0; k < op.count; k++) {
      const b = op.start + k;
      if (cur[b] !== after[b]) mismatches--;
      cur[b] = op.id;
      if (cur[b] !== after[b]) mismatches++;
    }
  };
  for (let p = 0; p < min; p++) apply(ops[p]!);
  for (let p = min; ; p++) {
    if (mismatches === 0) return p;
    if (p === ops.length) return -1;
    apply(ops[p]!);
  }
}

async function verifyExactly(client: NbdClient, state: number[]): Promise<void> {
  for (let b = 0; b < BLOCKS; b += 256) {
    const buf = await client.read(b * BLOCK, 256 * BLOCK);
    for (let k = 0; k < 256; k++) assert.equal(writerOf(buf.subarray(k * BLOCK, (k + 1) * BLOCK), b + k), state[b + k], `block ${b + k} changed across a clean restart`);
  }
}
