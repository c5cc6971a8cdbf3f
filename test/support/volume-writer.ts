/**
 * Writes to a volume through NBD while keeping a model of its content, so tests know what the
 * device must hold: after a flush every acknowledged write is durable and must survive any crash.
 */
import { createHash, randomBytes } from 'node:crypto';
import { NbdClient } from '@blockwal/wal-device';

export class VolumeWriter {
  /** What the device holds after every acknowledged write. */
  readonly model: Buffer;
  private client: NbdClient | null = null;
  writes = 0;
  bytes = 0;

  constructor(
    readonly uri: string,
    readonly size: number,
  ) {
    this.model = Buffer.alloc(size);
  }

  async connect(retryMs = 15_000): Promise<void> {
    const u = new URL(this.uri);
    const name = decodeURIComponent(u.pathname.slice(1));
    const until = Date.now() + retryMs;
    for (;;) {
      try {
        this.client = await NbdClient.connect({ host: u.hostname, port: Number(u.port) }, name);
        return;
      } catch (e) {
        if (Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  get nbd(): NbdClient {
    if (!this.client) throw new Error('not connected');
    return this.client;
  }

  /** `count` random writes of 4 KiB..maxBlocks*4 KiB, `depth` in flight. */
  async randomWrites(count: number, opts: { maxBlocks?: number; depth?: number; rng?: () => number } = {}): Promise<void> {
    const rng = opts.rng ?? Math.random;
    const maxBlocks = opts.maxBlocks ?? 16;
    const depth = opts.depth ?? 8;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next++;
        const blocks = 1 + Math.floor(rng() * maxBlocks);
        const len = blocks * 4096;
        const off = 4096 * Math.floor(rng() * ((this.size - len) / 4096 + 1));
        const data = randomBytes(len);
        await this.nbd.write(off, data);
        data.copy(this.model, off);
        this.writes++;
        this.bytes += len;
      }
    };
    await Promise.all(Array.from({ length: depth }, worker));
  }

  async flush(): Promise<void> {
    await this.nbd.flush();
  }

  /** sha256 of the device as read through NBD now. */
  async deviceSha256(): Promise<string> {
    const h = createHash('sha256');
    const step = 4 * 1024 * 1024;
    for (let off = 0; off < this.size; off += step) h.update(await this.nbd.read(off, Math.min(step, this.size - off)));
    return h.digest('hex');
  }

  modelSha256(): string {
    return createHash('sha256').update(this.model).digest('hex');
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    this.client = null;
  }

  destroy(): void {
    this.client?.destroy();
    this.client = null;
  }
}
