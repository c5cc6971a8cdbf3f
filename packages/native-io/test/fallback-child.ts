/**
 * Run by fallback.test.ts in a child process with BLOCKWAL_NATIVE=0: exercises the pure-JS
 * paths and prints one JSON object with what happened.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  allocAligned,
  blockDeviceSize,
  cloneOrCopy,
  isAligned,
  isAllZero,
  nativeInfo,
  openFile,
  preadFull,
  punchHole,
  pwriteFull,
  reflink,
  snappyCompress,
  walbChecksum,
  walbGetLsid,
  zeroRange,
} from '../src/index.js';

function code(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    return String((e as NodeJS.ErrnoException).code);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockwal-fallback-'));
try {
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  const aligned = allocAligned(8192);
  const file = openFile(path.join(dir, 'f'), { write: true, create: true, direct: true });
  pwriteFull(file.fd, Buffer.alloc(65536, 0xcd), 0);
  const punched = punchHole(file.fd, 4096, 4096);
  const zeroed = zeroRange(file.fd, 65536, 4096);
  const back = Buffer.alloc(69632);
  preadFull(file.fd, back, 0);
  const other = openFile(path.join(dir, 'g'), { write: true, create: true });
  const result = {
    info: nativeInfo(),
    checksums: [walbChecksum(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), walbChecksum(big, 0x12345678), walbChecksum(big.subarray(1, 100_001), 3)],
    allZero: [isAllZero(new Uint8Array(100_000)), isAllZero(big)],
    aligned: { length: aligned.length, isAligned: isAligned(aligned), zero: aligned.every((x) => x === 0) },
    direct: file.direct,
    punched,
    zeroed,
    punchedZero: back.subarray(4096, 8192).every((x) => x === 0) && back.subarray(8192, 65536).every((x) => x === 0xcd),
    size: blockDeviceSize(file.fd),
    reflink: reflink(file.fd, other.fd),
    clone: cloneOrCopy(file.fd, other.fd),
    cloneSize: fs.fstatSync(other.fd).size,
    walbError: code(() => walbGetLsid(file.fd, 'oldest')),
    codecError: code(() => snappyCompress(new Uint8Array(10), new Uint8Array(100))),
  };
  fs.closeSync(file.fd);
  fs.closeSync(other.fd);
  process.stdout.write(JSON.stringify(result));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
