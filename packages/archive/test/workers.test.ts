import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { ChecksumMismatchError, IoError, metaSnap, RejectedError, silentLogger, UnexpectedEofError, UsageError } from '@blockwal/core';
import { fullSyncFromFile, listArchiveVolumes, pushDiffFile, restoreSnapshot, WorkerPool } from '@blockwal/archive';
import { fromWireError, toWireError } from '../src/wire-error.js';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig, cleanDiff, fileSha, MiB, startArchive, T0, VolumeHistory, type ArchiveHarness } from './support/archive-world.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('archive: worker threads', function () {
  it('rebuilds blockwal errors thrown in a worker with their class, code, reason and place', () => {
    const cases: Error[] = [
      new RejectedError('bad-argument', 'the file ends without its END pack', { volume: 'v' }),
      new ChecksumMismatchError('pack checksum 0x1 != 0x2', { file: 'f.wdiff', pack: 3 }),
      new UnexpectedEofError('short header', { file: 'f', offset: 12 }),
      new UsageError('bad gid', { gid: 4 }),
      new IoError('open failed: ENOENT (no such file)', { file: '/x' }, Object.assign(new Error('x'), { code: 'ENOENT' })),
    ];
    for (const e of cases) {
      const back = fromWireError(structuredClone(toWireError(e)));
      assert.equal(back.constructor, e.constructor);
      assert.equal(back.message, e.message);
      for (const k of ['code', 'reason', 'where', 'retryable'] as const) assert.deepEqual((back as never)[k], (e as never)[k], k);
    }
    // A bundler may rename the class (esbuild makes it `_RejectedError`): its reason still makes it one.
    const renamed = fromWireError({ ...structuredClone(toWireError(cases[0]!)), name: '_RejectedError' });
    assert.ok(renamed instanceof RejectedError && renamed.reason === 'bad-argument', renamed.name);
    const plain = fromWireError(structuredClone(toWireError(Object.assign(new Error('EACCES: denied'), { code: 'EACCES' }))));
    assert.equal((plain as NodeJS.ErrnoException).code, 'EACCES');
  });

  it('pool: runs jobs on up to `size` threads, inline at size 0, and fails the jobs of a stopped pool', async () => {
    const pool = new WorkerPool(2, silentLogger());
    const ids = await Promise.all([1, 2, 3, 4].map(() => pool.run({ kind: 'ping' })));
    assert.ok(ids.every((r) => r.threadId > 0));
    assert.ok(pool.threads <= 2);
    await assert.rejects(pool.run({ kind: 'verify', file: '/nonexistent/x.wdiff', what: 'x', deviceUuid: new Uint8Array(16), sizeBytes: MiB }), (e: unknown) => e instanceof IoError && /ENOENT/.test((e as Error).message));
    await pool.close();
    await assert.rejects(pool.run({ kind: 'ping' }), (e: unknown) => e instanceof RejectedError && e.reason === 'stopped');
    const inline = new WorkerPool(0, silentLogger());
    assert.equal((await inline.run({ kind: 'ping' })).threadId, 0);
    assert.equal(inline.threads, 0);
  });

  it('bundle: the worker entry bundled with esbuild is found next to the bundled archive and answers', async function () {
    this.timeout(60000);
    const s = scratchDir('blockwal-archive-bundle-');
    try {
      // The layout of packages/cli/dist: the program's bundle with archive-worker.mjs next to it.
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(s.dir, 'node_modules'));
      const common = {
        bundle: true,
        platform: 'node' as const,
        format: 'esm' as const,
        target: 'node20',
        conditions: ['blockwal-source'],
        external: ['@blockwal/native-io', 'snappy', 'lz4-napi', 'zstd-napi', 'lzma-native', '@grpc/grpc-js', 'grpc-health-check', 'pino', 'prom-client', 'protobufjs'],
        banner: { js: "import { createRequire as __bwCreateRequire } from 'node:module'; const require = __bwCreateRequire(import.meta.url);" },
        logLevel: 'warning' as const,
      };
      const main = path.join(s.dir, 'main.ts');
      writeFileSync(
        main,
        `import { WorkerPool, archiveWorkerUrl } from '@blockwal/archive';
         import { silentLogger } from '@blockwal/core';
         const pool = new WorkerPool(1, silentLogger());
         const r = await pool.run({ kind: 'ping' });
         let verify = '';
         await pool.run({ kind: 'verify', file: '/nonexistent', what: 'x', deviceUuid: new Uint8Array(16), sizeBytes: 4096 }).catch((e) => (verify = e.constructor.name));
         await pool.close();
         console.log(JSON.stringify({ url: archiveWorkerUrl().href, threadId: r.threadId, verify }));`,
      );
      await build({ ...common, entryPoints: [main], outfile: path.join(s.dir, 'blockwal.mjs'), absWorkingDir: ROOT });
      await build({ ...common, entryPoints: [path.join(ROOT, 'packages/archive/src/archive-worker.ts')], outfile: path.join(s.dir, 'archive-worker.mjs'), absWorkingDir: ROOT });
      const out = JSON.parse(execFileSync(process.execPath, [path.join(s.dir, 'blockwal.mjs')], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }));
      assert.equal(out.url, `file://${path.join(s.dir, 'archive-worker.mjs')}`);
      assert.ok(out.threadId > 0);
      assert.equal(out.verify, 'IoError');
    } finally {
      s.cleanup();
    }
  });

  it('bundle: packages/cli/dist/archive-worker.mjs (after npm run build) answers a ping', async function () {
    const built = path.join(ROOT, 'packages/cli/dist/archive-worker.mjs');
    if (!existsSync(built)) this.skip();
    // As in production: without the test's blockwal-source condition (native-io stays external).
    const w = new Worker(new URL(`file://${built}`), { execArgv: [] });
    try {
      const r = await new Promise<{ ok: boolean; result: { threadId: number } }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.postMessage({ id: 1, job: { kind: 'ping' } });
      });
      assert.ok(r.ok && r.result.threadId > 0);
    } finally {
      await w.terminate();
    }
  });
});

describe('archive: a long restore does not stall other calls', function () {
  this.timeout(120000);
  const SIZE = 256 * MiB;
  const VOL = 'big';
  const seed = Number(process.env['BLOCKWAL_SEED'] ?? Date.now() % 1e9);
  const s = scratchDir('blockwal-archive-');
  const wdir = path.join(s.dir, 'w');
  let a: ArchiveHarness | undefined;
  let h: VolumeHistory;

  before(async () => {
    mkdirSync(wdir);
    h = new VolumeHistory(SIZE, seed, 0.4);
    a = await startArchive(archiveConfig(s.dir));
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    h.mark(0);
    await fullSyncFromFile(a.client, { volume: VOL, deviceUuid: h.uuid, snapshot: metaSnap(0), timestamp: T0 }, src, { chunkBytes: 4 * MiB });
    for (let g = 1; g <= 3; g++) {
      const d = h.diff(wdir, cleanDiff(g - 1, g), 300);
      assert.equal((await pushDiffFile(a.client, { volume: VOL, deviceUuid: h.uuid, diff: d.diff, volumeSize: SIZE }, d.file)).stored, true);
    }
  });
  after(async () => {
    await a?.stop();
    s.cleanup();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`  seed ${seed} (BLOCKWAL_SEED=${seed} to replay)`);
  });

  /** Restores gid 3 while calling ListArchiveVolumes every 20 ms; the longest call in ms. */
  async function restoreWhileListing(out: string): Promise<{ longest: number; calls: number; restoreMs: number }> {
    let done = false;
    let longest = 0;
    let calls = 0;
    const t0 = Date.now();
    const restore = restoreSnapshot(a!.client, VOL, 3, out).finally(() => (done = true));
    const lister = (async () => {
      while (!done) {
        const t = performance.now();
        await listArchiveVolumes(a!.client);
        longest = Math.max(longest, performance.now() - t);
        calls++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await restore;
    const restoreMs = Date.now() - t0;
    await lister;
    assert.equal(fileSha(out), h.shaAt.get(3));
    return { longest: Math.round(longest), calls, restoreMs };
  }

  it('ListArchiveVolumes answers within 200 ms while a 256 MiB image is restored in a worker', async () => {
    await listArchiveVolumes(a!.client); // the channel is up
    const r = await restoreWhileListing(path.join(a!.cfg.restoreDir, 'worker.img'));
    console.log(`      worker: restore ${r.restoreMs} ms, ${r.calls} ListArchiveVolumes calls, longest ${r.longest} ms`);
    assert.ok(r.calls >= 3, `only ${r.calls} calls during the restore`);
    assert.ok(r.longest < 200, `a ListArchiveVolumes call took ${r.longest} ms`);
  });

  it('for comparison, inline (workerThreads 0) the restore stalls them', async () => {
    await a!.stop();
    a = await startArchive(archiveConfig(s.dir, { workerThreads: 0 }));
    await listArchiveVolumes(a.client);
    const r = await restoreWhileListing(path.join(a.cfg.restoreDir, 'inline.img'));
    console.log(`      inline: restore ${r.restoreMs} ms, ${r.calls} ListArchiveVolumes calls, longest ${r.longest} ms`);
  });
});
