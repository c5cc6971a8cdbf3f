/**
 * A growable table of extents (struct of typed arrays, no per-extent objects).
 *
 * An extent is a block range [address, address + blocks) in lb with a kind and where its data
 * comes from. The payload columns are interpreted by the user of the table:
 *  - wlog → sorted wdiff: `src` = byte offset of the record's data in the source, `skip` = 0;
 *  - wlog → indexed wdiff: `src` = the image's data_offset, `size`/`csum`/`orig`/`cmpr` its
 *    data_size, io_checksum, orig_blocks and compression, `skip` = io_offset base (lb).
 * Taking a sub-range of an extent keeps the payload and adds to `skip`.
 */
export const EXTENT_RECORD_BYTES = 40;

export class ExtentTable {
  length = 0;
  address: Float64Array;
  blocks: Uint32Array;
  kind: Uint8Array;
  cmpr: Uint8Array;
  src: Float64Array;
  size: Uint32Array;
  csum: Uint32Array;
  orig: Uint32Array;
  skip: Uint32Array;

  constructor(capacity = 1024) {
    this.address = new Float64Array(capacity);
    this.blocks = new Uint32Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.cmpr = new Uint8Array(capacity);
    this.src = new Float64Array(capacity);
    this.size = new Uint32Array(capacity);
    this.csum = new Uint32Array(capacity);
    this.orig = new Uint32Array(capacity);
    this.skip = new Uint32Array(capacity);
  }

  get capacity(): number {
    return this.address.length;
  }

  clear(): void {
    this.length = 0;
  }

  /** Appends an extent; returns its index. */
  push(address: number, blocks: number, kind: number, src = 0, skip = 0, size = 0, csum = 0, orig = 0, cmpr = 0): number {
    if (this.length === this.capacity) this.grow();
    const i = this.length++;
    this.address[i] = address;
    this.blocks[i] = blocks;
    this.kind[i] = kind;
    this.src[i] = src;
    this.skip[i] = skip;
    this.size[i] = size;
    this.csum[i] = csum;
    this.orig[i] = orig;
    this.cmpr[i] = cmpr;
    return i;
  }

  /** Appends the part [address, address + blocks) of extent `i` of table `t`. */
  pushPart(t: ExtentTable, i: number, address: number, blocks: number): number {
    return this.push(address, blocks, t.kind[i]!, t.src[i]!, t.skip[i]! + (address - t.address[i]!), t.size[i]!, t.csum[i]!, t.orig[i]!, t.cmpr[i]!);
  }

  /** Serializes extent i into 40 bytes (for spilling runs to disk). */
  encode(i: number, out: DataView, off: number): void {
    out.setFloat64(off, this.address[i]!, true);
    out.setUint32(off + 8, this.blocks[i]!, true);
    out.setFloat64(off + 12, this.src[i]!, true);
    out.setUint32(off + 20, this.skip[i]!, true);
    out.setUint32(off + 24, this.size[i]!, true);
    out.setUint32(off + 28, this.csum[i]!, true);
    out.setUint32(off + 32, this.orig[i]!, true);
    out.setUint8(off + 36, this.kind[i]!);
    out.setUint8(off + 37, this.cmpr[i]!);
  }

  /** Appends an extent decoded from 40 bytes. */
  decodePush(v: DataView, off: number): number {
    return this.push(
      v.getFloat64(off, true),
      v.getUint32(off + 8, true),
      v.getUint8(off + 36),
      v.getFloat64(off + 12, true),
      v.getUint32(off + 20, true),
      v.getUint32(off + 24, true),
      v.getUint32(off + 28, true),
      v.getUint32(off + 32, true),
      v.getUint8(off + 37),
    );
  }

  private grow(): void {
    const n = Math.max(1024, this.capacity * 2);
    const g = <T extends Float64Array | Uint32Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.address = g(this.address);
    this.blocks = g(this.blocks);
    this.kind = g(this.kind);
    this.cmpr = g(this.cmpr);
    this.src = g(this.src);
    this.size = g(this.size);
    this.csum = g(this.csum);
    this.orig = g(this.orig);
    this.skip = g(this.skip);
  }
}
