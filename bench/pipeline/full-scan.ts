/**
 * The baseline blockwal is measured against: a full-scan incremental backup. It reads the whole
 * volume, hashes every 64 KiB chunk (sha256), and sends the chunks whose hash changed since the
 * previous scan to a receiver that writes them into its copy and fsyncs — the way a backup tool
 * without a write log finds what changed.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import net from 'node:net';

export const SCAN_CHUNK = 64 * 1024;
const READ = 4 * 1024 * 1024;

/** Receives (offset u64, length u32, data) frames, pwrites them, fsyncs at the end frame. */
export async function startReceiver(file: string): Promise<{ port: number; close(): Promise<void> }> {
  const fd = openSync(file, 'w');
  const server = net.createServer((sock) => {
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        if (buf.length < 12) break;
        const off = Number(buf.readBigUInt64LE(0));
        const len = buf.readUInt32LE(8);
        if (len === 0) {
          fsyncSync(fd);
          sock.write('k');
          buf = buf.subarray(12);
          continue;
        }
        if (buf.length < 12 + len) break;
        writeSync(fd, buf, 12, len, off);
        buf = buf.subarray(12 + len);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.close(() => {
          closeSync(fd);
          r();
        });
      }),
  };
}

export interface ScanResult {
  hashes: Buffer[];
  changedChunks: number;
  sentBytes: number;
  seconds: number;
}

/** Scans `file` (the volume), sends changed chunks to the receiver on `port`. */
export async function fullScanBackup(file: string, size: number, previous: Buffer[] | null, port: number | null): Promise<ScanResult> {
  const t0 = process.hrtime.bigint();
  const fd = openSync(file, 'r');
  const sock = port !== null ? net.createConnection(port, '127.0.0.1') : null;
  if (sock) await new Promise<void>((r) => sock.once('connect', () => r()));
  const buf = Buffer.allocUnsafe(READ);
  const hashes: Buffer[] = [];
  let changed = 0;
  let sent = 0;
  for (let off = 0; off < size; off += READ) {
    const n = readSync(fd, buf, 0, Math.min(READ, size - off), off);
    for (let i = 0; i < n; i += SCAN_CHUNK) {
      const chunk = buf.subarray(i, Math.min(i + SCAN_CHUNK, n));
      const h = createHash('sha256').update(chunk).digest();
      const idx = hashes.length;
      hashes.push(h);
      if (previous && !previous[idx]!.equals(h)) {
        changed++;
        if (sock) {
          const head = Buffer.alloc(12);
          head.writeBigUInt64LE(BigInt(off + i), 0);
          head.writeUInt32LE(chunk.length, 8);
          sent += chunk.length;
          if (!sock.write(Buffer.concat([head, chunk]))) await new Promise((r) => sock.once('drain', r));
        }
      }
    }
  }
  closeSync(fd);
  if (sock) {
    sock.write(Buffer.alloc(12));
    await new Promise<void>((r) => sock.once('data', () => r()));
    sock.destroy();
  }
  return { hashes, changedChunks: changed, sentBytes: sent, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}
