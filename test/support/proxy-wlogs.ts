/**
 * Wlogs for proxy tests: random writes (normal, all-zero, discard) of one volume lineage, written
 * as WalB wlog files with core's WlogWriter, with a reference image kept in memory (small
 * volumes only) to compare restored images with.
 */
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import {
  LOGICAL_BLOCK_SIZE,
  LogpackBuilder,
  SequentialWriter,
  WlogWriter,
  capacityPb,
  closeImage,
  metaDiff,
  openImage,
  openWdiff,
  redoWdiff,
  type MetaDiff,
} from '@blockwal/core';

export interface WlogPushHeader {
  volume: string;
  deviceUuid: Uint8Array;
  pbs: number;
  salt: number;
  volumeSize: number;
  diff: MetaDiff;
  beginLsid: number;
  endLsid: number;
}

export interface MakeOptions {
  /** Number of writes (default 20). */
  writes?: number;
  /** The diff's start snapshot is implicit (default true). */
  mergeable?: boolean;
  /** Largest write in lb (default 64). */
  maxBlocks?: number;
}

/** A deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class WlogMaker {
  readonly image: Buffer;
  readonly uuid: Uint8Array;
  readonly salt: number;
  lsid = 0;
  gid = 0;
  private readonly rnd: () => number;

  constructor(
    readonly volume: string,
    readonly volumeSize = 4 * 1024 * 1024,
    seed = 1,
    readonly pbs = 4096,
    /** Unix seconds of gid 0's diff. */
    readonly baseTime = 1_700_000_000,
  ) {
    this.image = Buffer.alloc(volumeSize);
    this.rnd = prng(seed);
    this.uuid = new Uint8Array(randomBytes(16));
    this.salt = (this.rnd() * 0xffffffff) >>> 0;
  }

  /** A new lineage (log reset): new uuid, lsids and gids restart at 0. The image stays. */
  reset(): void {
    this.uuid.set(randomBytes(16));
    this.lsid = 0;
    this.gid = 0;
  }

  sha256(): string {
    return createHash('sha256').update(this.image).digest('hex');
  }

  /** Writes the next wlog (|gid|-->|gid+1|) to `file` and returns its PushWlog header. */
  make(file: string, opts: MakeOptions = {}): WlogPushHeader {
    const writes = opts.writes ?? 20;
    const maxBlocks = opts.maxBlocks ?? 64;
    const volLb = this.volumeSize / LOGICAL_BLOCK_SIZE;
    const fd = openSync(file, 'w');
    const begin = this.lsid;
    try {
      const out = new SequentialWriter(fd, { file });
      const w = new WlogWriter(out, { salt: this.salt, pbs: this.pbs, uuid: this.uuid, beginLsid: begin, endLsid: Number.POSITIVE_INFINITY });
      let b = new LogpackBuilder(this.pbs, this.salt, begin);
      let parts: Uint8Array[] = [];
      const flush = () => {
        if (b.isEmpty) return;
        w.writePack(b.header, parts);
        b = new LogpackBuilder(this.pbs, this.salt, w.nextLsid);
        parts = [];
      };
      for (let i = 0; i < writes; i++) {
        const blocks = 1 + Math.floor(this.rnd() * maxBlocks);
        const offset = Math.floor(this.rnd() * (volLb - blocks));
        const kind = this.rnd();
        if (kind < 0.05) {
          if (!b.canAddDiscard()) flush();
          b.addDiscard(offset, blocks);
          this.image.fill(0, offset * 512, (offset + blocks) * 512);
          continue;
        }
        const data = Buffer.alloc(capacityPb(this.pbs, blocks) * this.pbs);
        if (kind >= 0.15) for (let k = 0; k < blocks * 512; k += 4) data.writeUInt32LE((this.rnd() * 0xffffffff) >>> 0, k);
        if (!b.canAddData(blocks)) flush();
        b.addNormal(offset, blocks, data);
        parts.push(data);
        data.copy(this.image, offset * 512, 0, blocks * 512);
      }
      flush();
      w.close();
      out.flush();
      this.lsid = w.nextLsid;
    } finally {
      closeSync(fd);
    }
    const diff = metaDiff(this.gid, this.gid + 1, { isMergeable: opts.mergeable ?? true, timestamp: this.baseTime + this.gid + 1 });
    this.gid++;
    return { volume: this.volume, deviceUuid: Uint8Array.from(this.uuid), pbs: this.pbs, salt: this.salt, volumeSize: this.volumeSize, diff, beginLsid: begin, endLsid: this.lsid };
  }
}

/** Applies wdiff files in order to a zero image of `size` bytes at `imageFile`; returns its sha256. */
export function applyWdiffs(files: readonly string[], imageFile: string, size: number): string {
  writeFileSync(imageFile, Buffer.alloc(0));
  const fd = openSync(imageFile, 'r+');
  closeSync(fd);
  const img = openImage(imageFile);
  try {
    for (const f of files) {
      const src = openWdiff(f);
      try {
        redoWdiff(src, img);
      } finally {
        src.close();
      }
    }
  } finally {
    closeImage(img);
  }
  const buf = Buffer.alloc(size);
  readFileSync(imageFile).copy(buf);
  return createHash('sha256').update(buf).digest('hex');
}
