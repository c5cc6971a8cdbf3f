/**
 * blockwal demo formats: the whole backup path on the format engine alone, in one process, verified by hash.
 *
 * A volume (data image + WalB log device) takes random writes, each logged as WalB does (logpack
 * into the ring first, then the data image). A full backup seeds the archive; at every snapshot
 * the log since the last one is extracted (ldev cat), turned into a wdiff and stored under its
 * walb name, and the ring is freed. Then every snapshot is restored from base + the chain the
 * snapshot algebra picks, and once more through one merged diff, and each restore is compared by
 * sha256 with the volume as it was at that snapshot. Exit 4 on any mismatch.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync, ftruncateSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_COMPRESSION,
  LogDeviceReader,
  LogDeviceWriter,
  LogpackAssembler,
  SequentialWriter,
  SortedSink,
  SortedWdiffWriter,
  catLogDevice,
  chainToGid,
  closeImage,
  formatLogDevice,
  formatWdiffName,
  fullToWdiff,
  mergeWdiffs,
  metaDiff,
  metaState,
  openImage,
  openWdiff,
  parseWdiffName,
  readFull,
  redoWdiff,
  restorableSnapshots,
  withOutput,
  wlogToWdiff,
  writeVirtualFull,
  type ClosedPack,
  type MetaDiff,
  type SuperSector,
} from '@blockwal/core';
import { flag, parse, parseSize, parseUint, str } from '../args.js';
import { out } from '../output.js';
import { EXIT_VERIFY_FAILED } from '../exit.js';

export const usage = 'blockwal demo formats [--size BYTES] [--snapshots N] [--writes N] [--dir DIR] [--keep]';

const PBS = 4096;

export function run(argv: string[]): number {
  const p = parse(argv, { size: { type: 'string' }, snapshots: { type: 'string' }, writes: { type: 'string' }, dir: { type: 'string' }, keep: { type: 'boolean' } }, usage);
  const size = str(p, 'size') !== undefined ? parseSize(str(p, 'size')!, 'volume size') : 64 * 1024 * 1024;
  const snapshots = str(p, 'snapshots') !== undefined ? parseUint(str(p, 'snapshots')!, 'snapshot count') : 5;
  const writes = str(p, 'writes') !== undefined ? parseUint(str(p, 'writes')!, 'writes per snapshot') : 200;
  const dir = str(p, 'dir') ?? mkdtempSync(path.join(os.tmpdir(), 'blockwal-demo-'));
  mkdirSync(path.join(dir, 'archive'), { recursive: true });
  try {
    return demo(dir, size, snapshots, writes);
  } finally {
    if (!flag(p, 'keep') && str(p, 'dir') === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

function demo(dir: string, size: number, snapshots: number, writesPerSnapshot: number): number {
  const volume = path.join(dir, 'volume.img');
  const logDev = path.join(dir, 'volume.log');
  const archive = path.join(dir, 'archive');
  const sectors = Math.floor(size / 512);

  // The data device, half filled with random data, and its log device.
  const vfd = openSync(volume, 'w+');
  ftruncateSync(vfd, sectors * 512);
  for (let off = 0; off < sectors * 512; off += 8 << 20) if ((off >> 23) % 2 === 0) writeSync(vfd, randomBytes(Math.min(4 << 20, sectors * 512 - off)), 0, undefined, off);
  const lfd = openSync(logDev, 'w+');
  ftruncateSync(lfd, 16 << 20);
  let sup: SuperSector = formatLogDevice(lfd, logDev, { dataSize: sectors * 512, pbs: PBS, name: 'demo' });
  const layout = new LogDeviceReader(lfd, logDev).layout;
  const ldev = new LogDeviceWriter(lfd, logDev, layout);
  out(`volume ${volume}: ${sectors * 512} bytes; log device ${logDev}: ring ${sup.ringBufferSize} pb of ${PBS} bytes`);

  // Full backup: gid 0.
  const baseWdiff = path.join(dir, 'full.wdiff');
  withOutput(baseWdiff, (o) => {
    const w = new SequentialWriter(o.fd, { file: o.name });
    fullToWdiff(vfd, true, w, { inputName: volume, outputName: o.name });
    w.flush();
  });
  const base = path.join(archive, 'base.img');
  closeSync(openSync(base, 'w'));
  const baseImage = openImage(base);
  const full = openWdiff(baseWdiff);
  redoWdiff(full, baseImage, { discard: 'zero' });
  full.close();
  closeImage(baseImage);
  const expected = new Map<number, string>([[0, sha256File(volume, sectors * 512)]]);
  out(`full backup: gid 0, ${statSync(baseWdiff).size} bytes of wdiff`);

  let lsid = 0;
  let t = Math.floor(Date.now() / 1000);
  const asm = new LogpackAssembler(PBS, sup.salt, sup.ringBufferSize, lsid, 32 * 1024 / PBS);
  const writePacks = (ps: ClosedPack[]) => ps.forEach((pk) => ldev.writePack(pk));
  for (let gid = 1; gid <= snapshots; gid++) {
    for (let i = 0; i < writesPerSnapshot; i++) {
      const r = Math.random();
      const blocks = 8 * (1 + Math.floor(Math.random() * 16));
      const offset = Math.floor(Math.random() * (sectors - blocks));
      if (r < 0.1) {
        writePacks(asm.addDiscard(offset, blocks));
        writeSync(vfd, Buffer.alloc(blocks * 512), 0, undefined, offset * 512);
      } else {
        const data = r < 0.15 ? Buffer.alloc(blocks * 512) : randomBytes(blocks * 512);
        writePacks(asm.addWrite(offset, blocks, data)); // the log first…
        writeSync(vfd, data, 0, undefined, offset * 512); // …then the data device
      }
    }
    if (!asm.isEmpty) writePacks([asm.close()]);
    const end = asm.packLsid;
    // Snapshot: ship [lsid, end) as a wdiff |gid-1| --> |gid|, then free the ring.
    const wlog = path.join(dir, `chunk-${gid}.wlog`);
    withOutput(wlog, (o) => {
      const w = new SequentialWriter(o.fd, { file: o.name });
      catLogDevice(new LogDeviceReader(lfd, logDev), w, { begin: lsid, end });
      w.flush();
    });
    const diff = metaDiff(gid - 1, gid, { isMergeable: gid % 2 === 0, timestamp: ++t });
    const name = path.join(archive, formatWdiffName(diff));
    const wfd = openSync(wlog, 'r');
    withOutput(name, (o) => {
      const w = new SequentialWriter(o.fd, { file: o.name });
      wlogToWdiff(wfd, true, w, { inputName: wlog, outputName: o.name });
      w.flush();
    });
    closeSync(wfd);
    rmSync(wlog);
    lsid = end;
    sup = { ...sup, oldestLsid: lsid, writtenLsid: lsid };
    ldev.writeSuper(sup);
    expected.set(gid, sha256File(volume, sectors * 512));
    out(`snapshot gid ${gid}: ${path.basename(name)} (${statSync(name).size} bytes)`);
  }

  // Restore every restorable snapshot from base + the chain the algebra picks.
  const diffs: MetaDiff[] = readdirSync(archive).filter((n) => n.endsWith('.wdiff')).map((n) => parseWdiffName(n));
  const files = new Map(diffs.map((d) => [d, path.join(archive, formatWdiffName(d))]));
  const state = metaState(0);
  const restorable = restorableSnapshots(state, diffs).map((s) => s.gid);
  let ok = true;
  out('');
  out('gid  device-at-snapshot sha256                                          restored sha256                                                   ');
  for (const gid of [0, ...restorable.filter((g) => g !== 0)]) {
    const chain = chainToGid(state, diffs, gid).map((d) => files.get(d)!);
    const restored = path.join(dir, `restore-${gid}.img`);
    virtFull(base, chain, restored);
    const got = sha256File(restored);
    rmSync(restored);
    const want = expected.get(gid)!;
    ok &&= got === want;
    out(`${String(gid).padEnd(4)} ${want} ${got} ${got === want ? 'OK' : 'MISMATCH'}`);
  }
  // And once more through a single merged diff of the whole chain.
  const last = restorable[restorable.length - 1] ?? 0;
  const merged = path.join(dir, 'merged.wdiff');
  const sources = chainToGid(state, diffs, last).map((d) => openWdiff(files.get(d)!));
  withOutput(merged, (o) => {
    const w = new SequentialWriter(o.fd, { file: o.name });
    mergeWdiffs(sources, new SortedSink(new SortedWdiffWriter(w, { compression: DEFAULT_COMPRESSION }), 0), DEFAULT_COMPRESSION);
    w.flush();
  });
  sources.forEach((s) => s.close());
  const restored = path.join(dir, 'restore-merged.img');
  virtFull(base, [merged], restored);
  const got = sha256File(restored);
  ok &&= got === expected.get(last);
  out(`${String(last).padEnd(4)} ${expected.get(last)} ${got} ${got === expected.get(last) ? 'OK' : 'MISMATCH'} (one merged diff)`);
  closeSync(vfd);
  closeSync(lfd);
  out('');
  out(ok ? 'every restored snapshot matches the volume at that snapshot' : 'MISMATCH: a restored snapshot differs from the volume');
  return ok ? 0 : EXIT_VERIFY_FAILED;
}

function virtFull(base: string, diffs: string[], output: string): void {
  const bfd = openSync(base, 'r');
  const sources = diffs.map((f) => openWdiff(f));
  try {
    withOutput(output, (o) => {
      const w = new SequentialWriter(o.fd, { file: o.name });
      writeVirtualFull(bfd, statSync(base).size, sources, w);
      w.flush();
    });
  } finally {
    sources.forEach((s) => s.close());
    closeSync(bfd);
  }
}

function sha256File(file: string, size?: number): string {
  const fd = openSync(file, 'r');
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  let pos = 0;
  for (;;) {
    const n = readFull(fd, buf, pos, file);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  closeSync(fd);
  if (size !== undefined && pos !== size) throw new Error(`${file}: ${pos} bytes, expected ${size}`);
  return h.digest('hex');
}
