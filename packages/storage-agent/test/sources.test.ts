import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LogDeviceWriter, LogpackAssembler, PAGE_SIZE, SUPER_SECTOR_BYTE_OFFSET, formatLogDevice, logDeviceLayout, parseSuperSector } from '@blockwal/core';
import { NbdClient, createWalDevice, serveWalDevice } from '@blockwal/wal-device';
import { StorageClient } from '@blockwal/storage-agent';
import { fileSha256, zeroImage } from '../../../test/support/scratch.js';
import { connectNbd, deviceSha, randomWrites, rng, startHarness, waitFor, type Harness } from '../../../test/support/storage-harness.js';
import { makeTestPki } from '../../../test/support/tls.js';

const MIB = 1024 * 1024;

/** Plays the WalB driver on image files: logpacks into the log image (core format tools), data into the data image. */
class ImageDriver {
  private asm!: LogpackAssembler;
  private writer!: LogDeviceWriter;
  private readonly logFd: number;
  private readonly dataFd: number;

  constructor(
    readonly logPath: string,
    readonly dataPath: string,
  ) {
    this.logFd = fs.openSync(logPath, 'r+');
    this.dataFd = fs.openSync(dataPath, 'r+');
    this.reload();
  }

  /** Re-reads the super sector (after the agent reset the log: new salt, lsid 0). */
  reload(): void {
    const b = Buffer.alloc(PAGE_SIZE);
    fs.readSync(this.logFd, b, 0, PAGE_SIZE, SUPER_SECTOR_BYTE_OFFSET);
    const s = parseSuperSector(b);
    this.writer = new LogDeviceWriter(this.logFd, this.logPath, logDeviceLayout(s.pbs, s.ringBufferSize, s.metadataSize));
    this.asm = new LogpackAssembler(s.pbs, s.salt, s.ringBufferSize, s.oldestLsid, 16);
  }

  write(offset: number, data: Uint8Array): void {
    for (const c of this.asm.addWrite(offset / 512, data.length / 512, data)) this.writer.writePack(c);
    fs.writeSync(this.dataFd, data, 0, data.length, offset);
  }

  /** Closes the open pack (a flush). */
  flush(): void {
    if (!this.asm.isEmpty) this.writer.writePack(this.asm.close());
  }

  close(): void {
    fs.closeSync(this.logFd);
    fs.closeSync(this.dataFd);
  }
}

describe('storage agent: sources, full-backup resume, TLS', function () {
  this.timeout(60_000);
  let h: Harness;

  afterEach(async () => {
    await h?.close();
  });

  async function checkImage(s: { gid: number; sha: string }): Promise<void> {
    await waitFor(() => h.ledger.restorable(true).some((x) => x.gid === s.gid), `gid ${s.gid} restorable`);
    const img = path.join(h.dir, `img-${s.gid}`);
    h.ledger.imageAt(s.gid, img);
    assert.equal(fileSha256(img), s.sha, `image of gid ${s.gid}`);
  }

  const stateOf = async (v: string) => (await h.client.listVolumes()).find((x) => x.volume === v)?.state;

  it('a WalB log device (image made with the core format tools) as a volume', async () => {
    h = await startHarness();
    const size = 4 * MIB;
    const logPath = path.join(h.dir, 'walb-log.img');
    const dataPath = zeroImage(path.join(h.dir, 'walb-data.img'), size);
    zeroImage(logPath, 2 * MIB);
    const fd = fs.openSync(logPath, 'r+');
    formatLogDevice(fd, logPath, { dataSize: size, pbs: 4096, name: 'walb0' });
    fs.closeSync(fd);
    const r = rng(11);
    const drv = new ImageDriver(logPath, dataPath);
    for (let i = 0; i < 20; i++) drv.write(Math.floor(r() * 1000) * 4096, Buffer.alloc(8192, i + 1)); // before the attach: the full backup copies them
    drv.flush();
    const st = await h.server.attachVolume('walb0', { kind: 'walb', logPath, dataPath });
    assert.equal(st.nbdUri, '');
    await waitFor(async () => (await stateOf('walb0')) === 'target', 'full backup done');
    drv.reload(); // the agent reset the log: new uuid and salt
    const snaps: { gid: number; sha: string }[] = [];
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 30; i++) {
        const data = Buffer.alloc(4096 * (1 + Math.floor(r() * 3)));
        for (let j = 0; j < data.length; j += 4) data.writeUInt32LE((r() * 0xffffffff) >>> 0, j);
        drv.write(Math.floor(r() * (size / 4096 - 4)) * 4096, data);
        if (i % 7 === 0) drv.flush();
      }
      drv.flush();
      const s = await h.client.takeSnapshot('walb0');
      snaps.push({ gid: s.gid, sha: fileSha256(dataPath) });
    }
    for (const s of snaps) await checkImage(s);
    // Read afresh each time: the proxy has the images before the agent has processed its last ack.
    const last = snaps[snaps.length - 1]!.gid;
    await waitFor(async () => {
      const st = await h.server.agent.volumeStatus('walb0');
      return st.done.gid >= last && st.done.lsid > 0 && st.oldestLsid === st.done.lsid;
    }, 'oldest lsid follows the done record');
    drv.close();
  });

  it('a WAL device served by another process (control socket, log file, NBD URI) as a volume', async () => {
    h = await startHarness();
    const size = 8 * MIB;
    const dataPath = path.join(h.dir, 'ext-data.img');
    const logPath = path.join(h.dir, 'ext-log.img');
    const nbdSock = path.join(h.dir, 'ext.nbd');
    const controlPath = path.join(h.dir, 'ext.ctl');
    createWalDevice({ dataPath, logPath, size, logSize: 4 * MIB, pbs: 4096, name: 'ext0' });
    const served = await serveWalDevice({ dataPath, logPath, name: 'ext0', socketPath: nbdSock, controlPath });
    try {
      const nbd = await NbdClient.connect({ socketPath: nbdSock }, 'ext0');
      await randomWrites(nbd, size, 30, rng(12));
      const nbdUri = `nbd+unix:///ext0?socket=${nbdSock}`;
      await h.server.attachVolume('ext0', { kind: 'socket', controlPath, logPath, nbdUri });
      await randomWrites(nbd, size, 30, rng(13)); // during the full backup
      await waitFor(async () => (await stateOf('ext0')) === 'target', 'full backup done');
      assert.equal((await h.client.listVolumes())[0]!.nbdUri, nbdUri);
      const snaps = [];
      for (let k = 0; k < 3; k++) {
        await randomWrites(nbd, size, 30, rng(14 + k));
        const s = await h.client.takeSnapshot('ext0');
        snaps.push({ gid: s.gid, sha: await deviceSha(nbd, size) });
      }
      for (const s of snaps) await checkImage(s);
      // Read afresh each time: the agent may process a later ack between two reads.
      const last = snaps[snaps.length - 1]!.gid;
      await waitFor(async () => {
        const done = (await h.server.agent.volumeStatus('ext0')).done;
        return done.gid >= last && done.lsid > 0 && served.device.lsids().oldest === done.lsid;
      }, 'the remote ring is freed up to the done record');
      await nbd.close();
    } finally {
      await h.close();
      h = undefined as unknown as Harness;
      await served.close();
    }
  });

  it('full backup resumes after a dropped connection and after an agent restart', async () => {
    h = await startHarness({ cfg: { fullSyncBytesPerSec: 8 * MIB, fullSyncChunkBytes: 256 * 1024 } });
    h.archive.dropAfterBytes = 2 * MIB;
    const size = 16 * MIB;
    const { nbdUri } = await h.client.addVolume('vol0', size);
    let nbd = await connectNbd(nbdUri);
    await randomWrites(nbd, size, 60, rng(20), 16); // non-zero data all over
    await waitFor(() => h.archive.drops === 1 && h.archive.resumeOffsets.length >= 2, 'dropped and reconnected', 20_000, 20);
    assert.ok(h.archive.resumeOffsets[1]! >= 2 * MIB, `resumed at ${h.archive.resumeOffsets[1]}`);
    await waitFor(async () => ((await h.client.listVolumes())[0]!.fullSyncBytes >= 6 * MIB ? true : undefined), 'copy under way');
    await nbd.close();
    await h.restart();
    assert.equal(await stateOf('vol0'), 'full-sync', 'the full backup resumes after a restart');
    await waitFor(async () => (await stateOf('vol0')) === 'target', 'full backup done', 30_000);
    assert.ok(h.archive.resumeOffsets.length >= 3 && h.archive.resumeOffsets[2]! >= 6 * MIB, `resume offsets ${h.archive.resumeOffsets}`);
    nbd = await connectNbd((await h.client.listVolumes())[0]!.nbdUri);
    await randomWrites(nbd, size, 30, rng(21));
    const s = await h.client.takeSnapshot('vol0');
    await checkImage({ gid: s.gid, sha: await deviceSha(nbd, size) });
    await nbd.close();
  });

  it('mutual TLS: the server and its clients; a client without a certificate is refused', async function () {
    const pkiDir = fs.mkdtempSync('/tmp/blockwal-pki-');
    let pki: ReturnType<typeof makeTestPki> | undefined;
    try {
      pki = makeTestPki(pkiDir);
    } catch {
      return this.skip(); // no openssl
    }
    h = await startHarness({ tls: pki.node });
    const { nbdUri } = await h.client.addVolume('vol0', 4 * MIB);
    await waitFor(async () => (await stateOf('vol0')) === 'target', 'full backup done');
    const nbd = await connectNbd(nbdUri);
    await randomWrites(nbd, 4 * MIB, 10, rng(30));
    await nbd.close();
    const s = await h.client.takeSnapshot('vol0', { wait: true, timeoutSeconds: 20 });
    assert.equal(s.restorable, true);
    const plain = new StorageClient(h.server.address);
    await assert.rejects(plain.listVolumes());
    plain.close();
    fs.rmSync(pkiDir, { recursive: true, force: true });
  });
});
