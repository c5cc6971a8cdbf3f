/**
 * The WAL device served by a real `blockwal device serve` process, driven by real NBD clients:
 * qemu-io, nbdcopy, and the kernel's loop device over nbdfuse with an ext4 filesystem. After each,
 * the device is stopped cleanly and its log, replayed onto a zero image, must give the data device.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { createWalDevice } from '@blockwal/wal-device';
import { scratchDir, fileSha256 } from '../support/scratch.js';
import { startDevice, type DeviceProc } from '../support/wal-device-proc.js';
import { assertLogRebuildsData } from '../support/wal-device-check.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

describe('WAL device with real NBD clients', function () {
  this.timeout(300_000);
  let dir: ReturnType<typeof scratchDir>;
  let proc: DeviceProc;
  let uri: string;

  async function start(size: number, pbs = 4096): Promise<void> {
    dir = scratchDir();
    createWalDevice({ dataPath: dir.file('data'), logPath: dir.file('log'), size, logSize: 4 * size, pbs, name: 'vol0' });
    // A small --writeback: the clients' long writes start the data device's writeback often.
    proc = await startDevice(['--data', dir.file('data'), '--log', dir.file('log'), '--socket', dir.file('nbd.sock'), '--writeback', '256K']);
    uri = `nbd+unix:///vol0?socket=${dir.file('nbd.sock')}`;
  }

  async function stopAndCheck(): Promise<void> {
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0, proc.output());
    assert.match(proc.output(), /flushed and checkpointed/);
    assertLogRebuildsData(dir.file('log'), dir.file('data'), dir.file);
    dir.cleanup();
  }

  it('qemu-io: pattern writes and reads, zeroes, discards, FUA, flush, async IO', async function () {
    if (!has('qemu-io')) this.skip();
    for (const pbs of [512, 4096]) {
      await start(64 * MiB, pbs);
      const cmds = [
        'write -P 0xab 0 1M',
        'read -P 0xab 0 1M',
        'write -P 0x11 512 1536', // unaligned to 4 KiB: fine, 512-byte granularity
        'read -P 0x11 512 1536',
        'write -z 2M 256k',
        'read -P 0 2M 256k',
        'write -P 0x22 4M 1M',
        'discard 4M 64k',
        'read -P 0 4M 64k',
        'read -P 0x22 4160k 960k',
        'write -f -P 0x33 8M 4k', // FUA
        'flush',
        'aio_write -P 0x44 9M 64k',
        'aio_write -P 0x55 10M 64k',
        'aio_flush',
        'read -P 0x44 9M 64k',
        'read -P 0x55 10M 64k',
        'write -P 0x66 63M 1M', // the last MiB
        'read -P 0x66 63M 1M',
      ];
      const r = await exec('qemu-io', ['-f', 'raw', uri, ...cmds.flatMap((c) => ['-c', c])]);
      assert.doesNotMatch(r.stdout + r.stderr, /fail|error/i, r.stdout + r.stderr);
      await stopAndCheck();
    }
  });

  it('nbdcopy: an image in and out again (4 connections), identical', async function () {
    if (!has('nbdcopy')) this.skip();
    await start(32 * MiB);
    const src = dir.file('src.img');
    const img = Buffer.concat([randomBytes(8 * MiB), Buffer.alloc(8 * MiB), randomBytes(16 * MiB)]);
    writeFileSync(src, img);
    await exec('nbdcopy', ['--connections=4', src, uri]);
    await exec('nbdcopy', ['--connections=4', uri, dir.file('out.img')]);
    assert.equal(fileSha256(dir.file('out.img')), fileSha256(src));
    await stopAndCheck();
  });

  it('nbdfuse + loop device + ext4: mkfs, files written, unmounted, e2fsck clean', async function () {
    const root = process.getuid?.() === 0;
    if (!root || !has('nbdfuse') || !has('losetup') || !has('mkfs.ext4') || !existsSync('/dev/fuse')) this.skip();
    await start(128 * MiB);
    const fuseDir = dir.file('fuse');
    const mnt = dir.file('mnt');
    mkdirSync(fuseDir);
    mkdirSync(mnt);
    const fuse = spawnSync('sh', ['-c', `nbdfuse ${fuseDir}/nbd '${uri}' >/dev/null 2>&1 & for i in $(seq 50); do [ -f ${fuseDir}/nbd ] && exit 0; sleep 0.1; done; exit 1`]);
    assert.equal(fuse.status, 0, 'nbdfuse came up');
    let loop = '';
    try {
      loop = (await exec('losetup', ['-f', '--show', `${fuseDir}/nbd`])).stdout.trim();
      await exec('mkfs.ext4', ['-q', loop]);
      await exec('mount', [loop, mnt]);
      const files: Array<[string, Buffer]> = [];
      for (let i = 0; i < 20; i++) {
        const data = randomBytes(64 * 1024 + i * 4099);
        files.push([`${mnt}/f${i}`, data]);
        writeFileSync(`${mnt}/f${i}`, data);
      }
      await exec('sync');
      for (const [f, d] of files) assert.ok(readFileSync(f).equals(d));
      await exec('umount', [mnt]);
      const fsck = spawnSync('e2fsck', ['-fn', loop], { encoding: 'utf8' });
      assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
    } finally {
      spawnSync('umount', [mnt]);
      if (loop) spawnSync('losetup', ['-d', loop]);
      spawnSync('fusermount3', ['-u', fuseDir]);
      spawnSync('umount', [fuseDir]);
    }
    await stopAndCheck();
  });
});
