/**
 * The cybozu serializer encoding of the meta objects (walb-formats §7.5), as walb-tools uses in
 * its protocols and small state files (archive `base` = MetaState, storage `done` = MetaLsidGid,
 * `uuid`, `state` strings). For compatibility tooling and state import; blockwal's own protocols
 * are protobuf.
 *
 * ```
 * bool            1 byte, 0 or 1
 * u16             2 bytes little-endian (object preambles)
 * integer         (u32, u64, size_t, time_t) a varint: header byte h, then
 *                   0x80 u8 | 0x81 u16 | 0x82 u32 | 0x83 u64   zero-extended, little-endian
 *                   0x84 i8 | 0x85 i16 | 0x86 i32 | 0x87 i64   sign-extended
 *                   any other h: the value is h read as an int8 (0x00–0x7f → 0–127, 0x88–0xff → −120…−1)
 *                 the writer picks the shortest: < 128 → h; < 2^8 → 0x80; < 2^16 → 0x81; < 2^32 → 0x82; else 0x83
 * std::string     size (integer) + bytes
 * uuid            16 raw bytes
 * MetaSnap        u16 0x0311, gidB, gidE
 * MetaDiff        u16 0x0312, isMergeable, isCompDiff, timestamp, snapB, snapE, dataSize
 * MetaState       u16 0x0313, isApplying, timestamp, snapB, snapE (written even when not applying)
 * MetaLsidGid     u16 0x0314, isMergeable, timestamp, lsid, gid
 * ```
 * blockwal integers are safe integers ≥ 0: a decoded integer outside 0…2^53 − 1 (such as the
 * all-ones gid of a default MetaSnap, encoded `ff`) is an UnsupportedError.
 */

import { BlockwalError, FormatError, UnexpectedEofError, UnsupportedError, UsageError, type ErrorWhere } from '../errors.js';
import { copyBytes, readU16, readU32, readU64Big, writeU16, writeU32, writeU64 } from './binary.js';
import { decodedMetaDiff, type MetaDiff } from '../algebra/meta-diff.js';
import type { MetaLsidGid } from '../algebra/meta-lsid-gid.js';
import type { MetaSnap } from '../algebra/meta-snap.js';
import type { MetaState } from '../algebra/meta-state.js';

export const META_SNAP_PREAMBLE = 0x0311;
export const META_DIFF_PREAMBLE = 0x0312;
export const META_STATE_PREAMBLE = 0x0313;
export const META_LSID_GID_PREAMBLE = 0x0314;
const UUID_BYTES = 16;

/** Appends cybozu-encoded values; `bytes()` returns what was written. Methods chain. */
export class CybozuWriter {
  private readonly out: number[] = [];

  bool(v: boolean): this {
    this.out.push(v ? 1 : 0);
    return this;
  }

  u16(v: number): this {
    const b = new Uint8Array(2);
    writeU16(b, 0, v);
    this.out.push(...b);
    return this;
  }

  /** A varint of a safe integer ≥ 0, in the shortest form (as cybozu `saveVariableInt`). */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`cannot encode ${v}: integers must be from 0 to 2^53 - 1`);
    if (v < 0x80) this.out.push(v);
    else if (v <= 0xff) this.out.push(0x80, v);
    else if (v <= 0xffff) this.out.push(0x81, v & 0xff, v >>> 8);
    else if (v <= 0xffff_ffff) {
      const b = new Uint8Array(4);
      writeU32(b, 0, v);
      this.out.push(0x82, ...b);
    } else {
      const b = new Uint8Array(8);
      writeU64(b, 0, v);
      this.out.push(0x83, ...b);
    }
    return this;
  }

  /** std::string: the UTF-8 byte length, then the bytes. */
  string(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.varint(b.length);
    this.out.push(...b);
    return this;
  }

  uuid(u: Uint8Array): this {
    if (u.length !== UUID_BYTES) throw new UsageError(`a uuid has ${UUID_BYTES} bytes, got ${u.length}`);
    this.out.push(...u);
    return this;
  }

  metaSnap(s: MetaSnap): this {
    return this.u16(META_SNAP_PREAMBLE).varint(s.gidB).varint(s.gidE);
  }

  metaDiff(d: MetaDiff): this {
    this.u16(META_DIFF_PREAMBLE).bool(d.isMergeable).bool(d.isCompDiff).varint(d.timestamp);
    return this.metaSnap(d.snapB).metaSnap(d.snapE).varint(d.dataSize);
  }

  metaState(st: MetaState): this {
    return this.u16(META_STATE_PREAMBLE).bool(st.isApplying).varint(st.timestamp).metaSnap(st.snapB).metaSnap(st.snapE);
  }

  metaLsidGid(r: MetaLsidGid): this {
    return this.u16(META_LSID_GID_PREAMBLE).bool(r.isMergeable).varint(r.timestamp).varint(r.lsid).varint(r.gid);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Reads cybozu-encoded values from `bytes`, starting at `offset`. Every read is bounds-checked;
 * errors are FormatErrors located at the byte offset where the bad value starts (plus `where`,
 * e.g. the file).
 */
export class CybozuReader {
  offset: number;

  constructor(
    private readonly bytes: Uint8Array,
    offset = 0,
    private readonly where: ErrorWhere = {},
  ) {
    this.offset = offset;
  }

  private fail(what: string, offset: number, Err: new (what: string, where: ErrorWhere) => FormatError = FormatError): never {
    throw new Err(what, { ...this.where, offset });
  }

  /** Consumes `n` bytes and returns where they start. */
  private take(n: number, what: string): number {
    const at = this.offset;
    if (at + n > this.bytes.length) this.fail(`${what} needs ${n} bytes, ${Math.max(0, this.bytes.length - at)} left`, at, UnexpectedEofError);
    this.offset += n;
    return at;
  }

  bool(): boolean {
    const at = this.take(1, 'bool');
    const v = this.bytes[at]!;
    if (v > 1) this.fail(`bool must be 0 or 1, got ${v}`, at);
    return v === 1;
  }

  u16(): number {
    return readU16(this.bytes, this.take(2, 'u16'));
  }

  /** An integer of any cybozu width, which must be from 0 to 2^53 − 1. */
  varint(): number {
    const start = this.take(1, 'integer');
    const h = this.bytes[start]!;
    const b = this.bytes;
    let v: bigint;
    switch (h) {
      case 0x80: v = BigInt(b[this.take(1, 'integer')]!); break;
      case 0x81: v = BigInt(readU16(b, this.take(2, 'integer'))); break;
      case 0x82: v = BigInt(readU32(b, this.take(4, 'integer'))); break;
      case 0x83: v = readU64Big(b, this.take(8, 'integer')); break;
      case 0x84: v = BigInt.asIntN(8, BigInt(b[this.take(1, 'integer')]!)); break;
      case 0x85: v = BigInt.asIntN(16, BigInt(readU16(b, this.take(2, 'integer')))); break;
      case 0x86: v = BigInt.asIntN(32, BigInt(readU32(b, this.take(4, 'integer')))); break;
      case 0x87: v = BigInt.asIntN(64, readU64Big(b, this.take(8, 'integer'))); break;
      default: v = BigInt.asIntN(8, BigInt(h));
    }
    if (v < 0n || v > MAX_SAFE) this.fail(`integer ${v} (as signed) is outside 0 to 2^53 - 1`, start, UnsupportedError);
    return Number(v);
  }

  /** std::string, as UTF-8 (FormatError if it is not). */
  string(): string {
    const start = this.offset;
    const size = this.varint();
    const at = this.take(size, 'string');
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(at, at + size));
    } catch {
      return this.fail('string is not UTF-8', start);
    }
  }

  uuid(): Uint8Array {
    const at = this.take(UUID_BYTES, 'uuid');
    return copyBytes(this.bytes, at, at + UUID_BYTES);
  }

  private preamble(expected: number, type: string): number {
    const start = this.offset;
    const p = this.u16();
    if (p !== expected) this.fail(`${type} preamble must be 0x${expected.toString(16).padStart(4, '0')}, got 0x${p.toString(16).padStart(4, '0')}`, start);
    return start;
  }

  metaSnap(): MetaSnap {
    const start = this.preamble(META_SNAP_PREAMBLE, 'MetaSnap');
    const gidB = this.varint();
    const gidE = this.varint();
    if (gidB > gidE) this.fail(`MetaSnap |${gidB},${gidE}| must have gidB <= gidE`, start);
    return { gidB, gidE };
  }

  metaDiff(): MetaDiff {
    const start = this.preamble(META_DIFF_PREAMBLE, 'MetaDiff');
    const isMergeable = this.bool();
    const isCompDiff = this.bool();
    const timestamp = this.varint();
    const snapB = this.metaSnap();
    const snapE = this.metaSnap();
    const dataSize = this.varint();
    return this.located(start, () => decodedMetaDiff(snapB, snapE, { isMergeable, isCompDiff, timestamp, dataSize }));
  }

  /** A MetaState; when not applying, the stored snapE is meaningless and is read as snapB. */
  metaState(): MetaState {
    const start = this.preamble(META_STATE_PREAMBLE, 'MetaState');
    const isApplying = this.bool();
    const timestamp = this.varint();
    const snapB = this.metaSnap();
    const snapE = this.metaSnap();
    if (isApplying && snapB.gidB >= snapE.gidB) this.fail(`applying MetaState must progress (snapB.gidB < snapE.gidB)`, start);
    return { isApplying, snapB, snapE: isApplying ? snapE : snapB, timestamp };
  }

  metaLsidGid(): MetaLsidGid {
    this.preamble(META_LSID_GID_PREAMBLE, 'MetaLsidGid');
    const isMergeable = this.bool();
    const timestamp = this.varint();
    const lsid = this.varint();
    const gid = this.varint();
    return { isMergeable, timestamp, lsid, gid };
  }

  /** FormatError unless every byte was read (for a file holding one object). */
  expectEnd(): void {
    if (this.offset !== this.bytes.length) this.fail(`${this.bytes.length - this.offset} unexpected bytes after the data`, this.offset);
  }

  private located<T>(offset: number, decode: () => T): T {
    try {
      return decode();
    } catch (e) {
      throw e instanceof BlockwalError ? e.at({ ...this.where, offset }) : e;
    }
  }
}
