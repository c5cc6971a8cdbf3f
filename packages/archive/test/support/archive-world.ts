/**
 * Test world of the archive: a volume's history kept as a reference image in memory (small
 * volumes), sorted wdiffs written with core's SortedWdiffWriter from the same random writes, an
 * archive server on a unix socket in a scratch directory, and helpers to compare files and
 * directories by hash.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import {
  CompressionType,
  formatWdiffName,
  LOGICAL_BLOCK_SIZE,
  metaDiff,
  SequentialWriter,
  SortedWdiffWriter,
  type ArchiveConfig,
  type CompressionSpec,
  type MetaDiff,
  type MetaSnap,
} from '@blockwal/core';
import type { ArchiveServiceClient } from '@blockwal/proto';
import { connectArchive, startArchiveServer, type ArchiveServer } from '@blockwal/archive';
import type { TlsFiles } from '@blockwal/proto';

export const MiB = 1024 * 1024;
export const T0 = 1_700_000_000;

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
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

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function fileSha(file: string): string {
  return sha256(readFileSync(file));
}

type Kind = 'normal' | 'zero' | 'discard';
interface Extent {
  address: number;
  blocks: number;
  kind: Kind;
  data?: Buffer;
}

/**
 * A volume's history: the current image, the image hash at each clean gid, the device uuid.
 * `diff(…)` makes random writes, applies them to the image and writes them as a sorted wdiff.
 */
export class VolumeHistory {
  readonly image: Buffer;
  readonly uuid: Uint8Array;
  /** sha256 of the image at each gid reached by a diff or set by `mark`. */
  readonly shaAt = new Map<number, string>();
  private readonly rnd: () => number;

  /** `filled`: the share of 256 KiB pieces of the first image that get random data (the rest is zeros). */
  constructor(
    readonly sizeBytes: number,
    readonly seed: number,
    filled = 0.65,
  ) {
    this.rnd = prng(seed);
    this.uuid = new Uint8Array(randomBytes(16));
    this.image = Buffer.alloc(sizeBytes);
    // Random content with all-zero stretches (so a full sync elides some chunks).
    for (let off = 0; off < sizeBytes; off += 256 * 1024) {
      if (this.rnd() >= filled) continue;
      this.fill(this.image.subarray(off, Math.min(off + 256 * 1024, sizeBytes)));
    }
  }

  private fill(b: Buffer): void {
    for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((this.rnd() * 2 ** 32) >>> 0, i);
  }

  mark(gid: number): void {
    this.shaAt.set(gid, sha256(this.image));
  }

  /** Random non-overlapping extents, sorted by address. */
  private extents(count: number): Extent[] {
    const lbs = this.sizeBytes / LOGICAL_BLOCK_SIZE;
    const raw: Extent[] = [];
    for (let i = 0; i < count; i++) {
      const blocks = 1 + Math.floor(this.rnd() * 64);
      const address = Math.floor(this.rnd() * (lbs - blocks));
      const r = this.rnd();
      const kind: Kind = r < 0.8 ? 'normal' : r < 0.9 ? 'zero' : 'discard';
      raw.push({ address, blocks, kind });
    }
    raw.sort((a, b) => a.address - b.address);
    const out: Extent[] = [];
    let end = 0;
    for (const e of raw) {
      if (e.address < end) continue;
      if (e.kind === 'normal') {
        e.data = Buffer.alloc(e.blocks * LOGICAL_BLOCK_SIZE);
        this.fill(e.data);
      }
      out.push(e);
      end = e.address + e.blocks;
    }
    return out;
  }

  private apply(extents: readonly Extent[]): void {
    for (const e of extents) {
      const at = e.address * LOGICAL_BLOCK_SIZE;
      if (e.data) e.data.copy(this.image, at);
      else this.image.fill(0, at, at + e.blocks * LOGICAL_BLOCK_SIZE);
    }
  }

  /**
   * Makes `writes` random writes for the diff `|b|-->|e|` (or the given diff), applies them to the
   * image, writes the sorted wdiff under its WalB name in `dir` and returns its path and diff.
   */
  diff(dir: string, d: MetaDiff, writes = 40, opts: { compression?: CompressionSpec; uuid?: Uint8Array; apply?: boolean } = {}): { file: string; diff: MetaDiff } {
    const ext = this.extents(writes);
    const file = path.join(dir, formatWdiffName(d));
    writeSortedWdiff(file, ext, opts.uuid ?? this.uuid, opts.compression);
    if (opts.apply !== false) {
      this.apply(ext);
      if (d.snapE.gidB === d.snapE.gidE) this.mark(d.snapE.gidB);
    }
    return { file, diff: d };
  }

  writeImage(file: string): void {
    writeFileSync(file, this.image);
  }

  /**
   * A live copy for a full sync taken while the writes of `d` go on: the image with the first
   * half of `d`'s writes already in it is written to `imageFile`; the whole of `d` goes to its
   * wdiff (in `dir`) and into the reference image.
   */
  liveCopy(imageFile: string, dir: string, d: MetaDiff, writes = 40): { file: string; diff: MetaDiff } {
    const ext = this.extents(writes);
    const file = path.join(dir, formatWdiffName(d));
    writeSortedWdiff(file, ext, this.uuid);
    this.apply(ext.slice(0, Math.floor(ext.length / 2)));
    this.writeImage(imageFile);
    this.apply(ext);
    if (d.snapE.gidB === d.snapE.gidE) this.mark(d.snapE.gidB);
    return { file, diff: d };
  }
}

export function writeSortedWdiff(file: string, ext: readonly Extent[], uuid: Uint8Array, compression: CompressionSpec = { type: CompressionType.Snappy, level: 0 }): void {
  const fd = openSync(file, 'w');
  try {
    const out = new SequentialWriter(fd, { file });
    const w = new SortedWdiffWriter(out, { uuid, compression });
    for (const e of ext) {
      if (e.kind === 'normal') w.addNormal(e.address, e.blocks, e.data!);
      else if (e.kind === 'zero') w.addAllZero(e.address, e.blocks);
      else w.addDiscard(e.address, e.blocks);
    }
    w.finish();
    out.sync();
  } finally {
    closeSync(fd);
  }
}

/** `|b|-->|e|` with the test timestamp of e; mergeable when its start is implicit. */
export function cleanDiff(b: number | MetaSnap, e: number | MetaSnap, mergeable = false): MetaDiff {
  const eg = typeof e === 'number' ? e : e.gidB;
  return metaDiff(b, e, { isMergeable: mergeable, timestamp: T0 + 10 * eg });
}

export interface ArchiveHarness {
  server: ArchiveServer;
  client: ArchiveServiceClient;
  cfg: ArchiveConfig;
  stop(): Promise<void>;
}

export function archiveConfig(scratch: string, extra: Partial<ArchiveConfig> = {}): ArchiveConfig {
  return {
    name: 'a0',
    listen: `unix:${path.join(scratch, 'a.sock')}`,
    metricsListen: null,
    dir: path.join(scratch, 'archive'),
    restoreDir: path.join(scratch, 'restored'),
    readChunkBytes: MiB,
    // Merging off unless a test turns it on: test diffs carry old timestamps (T0).
    mergeAfterMs: 0,
    mergeMaxBytes: 1024 * MiB,
    workerThreads: 1,
    ...extra,
  };
}

export async function startArchive(cfg: ArchiveConfig, tls?: TlsFiles): Promise<ArchiveHarness> {
  const server = await startArchiveServer(cfg);
  const client = connectArchive(server.address, tls);
  return {
    server,
    client,
    cfg,
    async stop() {
      client.close();
      await server.close();
    },
  };
}

/** name → size:sha256 of every file under `dir` (recursively), to prove nothing changed. */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${st.size}:${fileSha(p)}`;
    }
  };
  walk(dir);
  return out;
}

/** Retries `f` while it fails with `busy` (a dropped stream is released asynchronously). */
export async function whileBusy<T>(f: () => Promise<T>, tries = 50): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= tries || (e as { reason?: string }).reason !== 'busy') throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
