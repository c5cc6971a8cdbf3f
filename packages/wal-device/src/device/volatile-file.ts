/**
 * Power-loss simulation for crash tests (enabled with BLOCKWAL_SIMULATE_POWER_LOSS=1): a
 * DeviceFile whose writes stay in memory, like a volatile disk cache, until datasync writes them
 * all; meanwhile a background "writeback" persists random pages in random order, as a disk may.
 * Killing the process then loses exactly what a power cut may lose: any subset of what was written
 * since the last completed datasync, in 4 KiB pages.
 */
import { RealDeviceFile, type DeviceFile } from './device-file.js';

const PAGE = 4096;

export class VolatileDeviceFile implements DeviceFile {
  private readonly overlay = new Map<number, Buffer>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly real: RealDeviceFile,
    /** Share of the cached pages persisted at each writeback tick. */
    private readonly writebackShare = 0.3,
    writebackEveryMs = 5,
  ) {
    this.timer = setInterval(() => this.writeback(), writebackEveryMs);
    this.timer.unref();
  }

  get name(): string {
    return this.real.name;
  }

  get fd(): number {
    return this.real.fd;
  }

  size(): number {
    return this.real.size();
  }

  async writev(buffers: Uint8Array[], position: number): Promise<void> {
    let at = position;
    for (const b of buffers) {
      this.put(b, at);
      at += b.length;
    }
    await Promise.resolve();
  }

  writevSync(buffers: Uint8Array[], position: number): void {
    let at = position;
    for (const b of buffers) {
      this.put(b, at);
      at += b.length;
    }
  }

  async writeMany(buffers: Uint8Array[], positions: Float64Array, count: number): Promise<void> {
    for (let i = 0; i < count; i++) this.put(buffers[i]!, positions[i]!);
    await Promise.resolve();
  }

  async read(buf: Uint8Array, position: number): Promise<void> {
    const n = this.readSync(buf, position);
    buf.fill(0, n);
    await Promise.resolve();
  }

  readSync(buf: Uint8Array, position: number): number {
    const n = this.real.readSync(buf, position);
    buf.fill(0, n);
    for (let p = Math.floor(position / PAGE); p * PAGE < position + buf.length; p++) {
      const page = this.overlay.get(p);
      if (!page) continue;
      const from = Math.max(position, p * PAGE);
      const to = Math.min(position + buf.length, (p + 1) * PAGE);
      buf.set(page.subarray(from - p * PAGE, to - p * PAGE), from - position);
    }
    return buf.length;
  }

  writeSync(buf: Uint8Array, position: number): void {
    this.put(buf, position);
  }

  zero(position: number, length: number): void {
    const zeros = Buffer.alloc(Math.min(length, 1 << 20));
    for (let at = position; at < position + length; at += zeros.length) this.put(zeros.subarray(0, Math.min(zeros.length, position + length - at)), at);
  }

  /** Nothing leaves the simulated cache before a datasync. */
  async startWriteback(_ranges: Float64Array): Promise<void> {}

  async datasync(): Promise<void> {
    this.datasyncSync();
    await Promise.resolve();
  }

  datasyncSync(): void {
    for (const [p, page] of this.overlay) this.real.writeSync(page, p * PAGE);
    this.overlay.clear();
    this.real.datasyncSync();
  }

  truncate(size: number): void {
    this.real.truncate(size);
  }

  close(): void {
    clearInterval(this.timer);
    this.real.close();
  }

  private put(data: Uint8Array, position: number): void {
    for (let p = Math.floor(position / PAGE); p * PAGE < position + data.length; p++) {
      let page = this.overlay.get(p);
      if (!page) {
        page = Buffer.alloc(PAGE);
        this.real.readSync(page, p * PAGE);
        this.overlay.set(p, page);
      }
      const from = Math.max(position, p * PAGE);
      const to = Math.min(position + data.length, (p + 1) * PAGE);
      page.set(data.subarray(from - position, to - position), from - p * PAGE);
    }
  }

  /** Persists a random subset of the cached pages, in random order. */
  private writeback(): void {
    if (this.overlay.size === 0) return;
    for (const [p, page] of this.overlay) {
      if (Math.random() >= this.writebackShare) continue;
      this.real.writeSync(page, p * PAGE);
      this.overlay.delete(p);
    }
  }
}

/** Opens a device file, simulated-volatile when BLOCKWAL_SIMULATE_POWER_LOSS=1 (tests only). */
export function openDeviceFile(path: string): DeviceFile {
  const real = RealDeviceFile.open(path);
  return process.env['BLOCKWAL_SIMULATE_POWER_LOSS'] === '1' ? new VolatileDeviceFile(real) : real;
}
