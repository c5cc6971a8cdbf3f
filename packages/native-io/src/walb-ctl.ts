/**
 * The WalB control structures (walb-formats §4), encoded and decoded in JS. Pure functions over
 * Buffers; the ioctl itself is in walb-ioctl.ts. All structs are packed, little-endian, LP64.
 *
 * struct walb_ctl (120 bytes):
 *   0 int command | 4 int val_int | 8 u64 val_u64 | 16 u32 val_u32 | 20 int error
 *   24 struct walb_ctl_data u2k (user -> kernel) | 72 struct walb_ctl_data k2u (kernel -> user)
 * struct walb_ctl_data (48 bytes):
 *   0 u32 wmajor | 4 wminor | 8 lmajor | 12 lminor | 16 dmajor | 20 dminor
 *   24 size_t buf_size | 32 void* buf | 40 void* kbuf
 *   (buf/kbuf are filled in by the native call from the buffers it is given; encode writes 0.)
 * struct walb_start_param (64 bytes):
 *   0 char name[32] (NUL-terminated) | 32 u32 max_pending_mb | 36 min_pending_mb
 *   40 queue_stop_timeout_ms | 44 max_logpack_kb | 48 log_flush_interval_ms
 *   52 log_flush_interval_mb | 56 n_pack_bulk | 60 n_io_bulk
 * struct walb_disk_data (40 bytes): 0 char name[32] | 32 u32 major | 36 u32 minor
 */

/** `_IOR(0xFE, 0, u32)`: the driver version, `(major << 16) | (minor << 8) | patch`. */
export const WALB_IOCTL_VERSION = 0x8004fe00;
/** `_IOWR(0xFE, 1, struct walb_ctl)`: only on /dev/walb/control. */
export const WALB_IOCTL_CONTROL = 0xc078fe01;
/** `_IOWR(0xFE, 2, struct walb_ctl)`: only on /dev/walb/NAME. */
export const WALB_IOCTL_WDEV = 0xc078fe02;

export const WALB_CTL_SIZE = 120;
export const WALB_CTL_DATA_SIZE = 48;
export const WALB_CTL_U2K_OFFSET = 24;
export const WALB_CTL_K2U_OFFSET = 72;
export const WALB_START_PARAM_SIZE = 64;
export const WALB_DISK_DATA_SIZE = 40;
export const WALB_DISK_NAME_LEN = 32;
/** Longest device name: 32 − len("walb") − len("/L") − 1. */
export const WALB_DEV_NAME_MAX_LEN = 25;
/** `u2k.wminor` asking the driver to choose the minor number. */
export const WALB_DYNAMIC_MINOR = 0xffffffff;

/** walb_ctl.command (walb-formats §4.3). 9..15 are deprecated snapshot commands. */
export enum WalbCtlCommand {
  Dummy = 0,
  StartDev = 1,
  StopDev = 2,
  GetMajor = 3,
  ListDev = 4,
  NumOfDev = 5,
  GetOldestLsid = 6,
  SetOldestLsid = 7,
  Status = 8,
  GetCheckpointInterval = 16,
  TakeCheckpoint = 17,
  SetCheckpointInterval = 18,
  GetWrittenLsid = 19,
  GetPermanentLsid = 20,
  GetCompletedLsid = 21,
  GetLogUsage = 22,
  GetLogCapacity = 23,
  IsFlushCapable = 24,
  Resize = 25,
  ClearLog = 26,
  IsLogOverflow = 27,
  Freeze = 28,
  Melt = 29,
  IsFrozen = 30,
}

export interface WalbCtlData {
  wmajor: number;
  wminor: number;
  lmajor: number;
  lminor: number;
  dmajor: number;
  dminor: number;
  /** buf_size as stored; on the way in the native call sets it from the buffer it is given. */
  bufSize: number;
}

export interface WalbCtl {
  command: number;
  valInt: number;
  valU64: bigint;
  valU32: number;
  error: number;
  u2k: WalbCtlData;
  k2u: WalbCtlData;
}

export type WalbCtlInput = Partial<Omit<WalbCtl, 'u2k' | 'k2u'>> & {
  u2k?: Partial<WalbCtlData>;
  k2u?: Partial<WalbCtlData>;
};

function emptyData(): WalbCtlData {
  return { wmajor: 0, wminor: 0, lmajor: 0, lminor: 0, dmajor: 0, dminor: 0, bufSize: 0 };
}

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} must be a u32, got ${v}`);
  return v;
}

function i32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`${name} must be an int32, got ${v}`);
  return v;
}

function encodeData(b: Buffer, off: number, d: Partial<WalbCtlData> | undefined): void {
  const x = { ...emptyData(), ...d };
  b.writeUInt32LE(u32('wmajor', x.wmajor), off);
  b.writeUInt32LE(u32('wminor', x.wminor), off + 4);
  b.writeUInt32LE(u32('lmajor', x.lmajor), off + 8);
  b.writeUInt32LE(u32('lminor', x.lminor), off + 12);
  b.writeUInt32LE(u32('dmajor', x.dmajor), off + 16);
  b.writeUInt32LE(u32('dminor', x.dminor), off + 20);
  if (!Number.isSafeInteger(x.bufSize) || x.bufSize < 0) throw new RangeError(`bufSize must be a non-negative integer`);
  b.writeBigUInt64LE(BigInt(x.bufSize), off + 24);
  b.writeBigUInt64LE(0n, off + 32); // buf: set by the native call
  b.writeBigUInt64LE(0n, off + 40); // kbuf: kernel-internal
}

function decodeData(b: Uint8Array, off: number): WalbCtlData {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    wmajor: v.readUInt32LE(off),
    wminor: v.readUInt32LE(off + 4),
    lmajor: v.readUInt32LE(off + 8),
    lminor: v.readUInt32LE(off + 12),
    dmajor: v.readUInt32LE(off + 16),
    dminor: v.readUInt32LE(off + 20),
    bufSize: Number(v.readBigUInt64LE(off + 24)),
  };
}

/** Encodes a struct walb_ctl (120 bytes). Unset fields are 0. */
export function encodeWalbCtl(c: WalbCtlInput): Buffer {
  const b = Buffer.alloc(WALB_CTL_SIZE);
  b.writeInt32LE(i32('command', c.command ?? 0), 0);
  b.writeInt32LE(i32('valInt', c.valInt ?? 0), 4);
  const v64 = c.valU64 ?? 0n;
  if (v64 < 0n || v64 > 0xffffffffffffffffn) throw new RangeError(`valU64 must be a u64, got ${v64}`);
  b.writeBigUInt64LE(v64, 8);
  b.writeUInt32LE(u32('valU32', c.valU32 ?? 0), 16);
  b.writeInt32LE(i32('error', c.error ?? 0), 20);
  encodeData(b, WALB_CTL_U2K_OFFSET, c.u2k);
  encodeData(b, WALB_CTL_K2U_OFFSET, c.k2u);
  return b;
}

/** Decodes a struct walb_ctl (the pointer fields are not represented). */
export function decodeWalbCtl(b: Uint8Array): WalbCtl {
  if (b.length !== WALB_CTL_SIZE) throw new RangeError(`struct walb_ctl is ${WALB_CTL_SIZE} bytes, got ${b.length}`);
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    command: v.readInt32LE(0),
    valInt: v.readInt32LE(4),
    valU64: v.readBigUInt64LE(8),
    valU32: v.readUInt32LE(16),
    error: v.readInt32LE(20),
    u2k: decodeData(b, WALB_CTL_U2K_OFFSET),
    k2u: decodeData(b, WALB_CTL_K2U_OFFSET),
  };
}

/** struct walb_start_param: the parameters of START_DEV. */
export interface WalbStartParam {
  /** Device name; empty keeps the name in the super sector (or derives one). ≤ 25 bytes. */
  name: string;
  maxPendingMb: number;
  minPendingMb: number;
  queueStopTimeoutMs: number;
  maxLogpackKb: number;
  logFlushIntervalMs: number;
  logFlushIntervalMb: number;
  nPackBulk: number;
  nIoBulk: number;
}

/** The defaults of `wdevc create-wdev`. */
export const DEFAULT_WALB_START_PARAM: Readonly<WalbStartParam> = Object.freeze({
  name: '',
  maxPendingMb: 32,
  minPendingMb: 16,
  queueStopTimeoutMs: 100,
  maxLogpackKb: 32,
  logFlushIntervalMs: 100,
  logFlushIntervalMb: 16,
  nPackBulk: 128,
  nIoBulk: 1024,
});

/** The driver's validity rules for walb_start_param; returns the problems (empty = valid). */
export function checkWalbStartParam(p: WalbStartParam): string[] {
  const bad: string[] = [];
  const nameBytes = Buffer.byteLength(p.name, 'utf8');
  if (nameBytes > WALB_DEV_NAME_MAX_LEN) bad.push(`name is ${nameBytes} bytes, at most ${WALB_DEV_NAME_MAX_LEN}`);
  if (p.name.includes('\0')) bad.push('name contains a NUL byte');
  if (!(p.maxPendingMb >= 2 && p.maxPendingMb <= 16384)) bad.push('maxPendingMb must be 2..16384');
  if (!(p.minPendingMb >= 1 && p.minPendingMb < p.maxPendingMb)) bad.push('minPendingMb must be >= 1 and < maxPendingMb');
  if (!(p.queueStopTimeoutMs >= 1)) bad.push('queueStopTimeoutMs must be >= 1');
  if (!(p.logFlushIntervalMb * 2 <= p.maxPendingMb)) bad.push('logFlushIntervalMb * 2 must be <= maxPendingMb');
  if (!(p.nPackBulk > 0)) bad.push('nPackBulk must be > 0');
  if (!(p.nIoBulk > 0)) bad.push('nIoBulk must be > 0');
  return bad;
}

function writeName(b: Buffer, off: number, name: string): void {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length >= WALB_DISK_NAME_LEN) throw new RangeError(`name "${name}" is longer than ${WALB_DISK_NAME_LEN - 1} bytes`);
  b.fill(0, off, off + WALB_DISK_NAME_LEN);
  bytes.copy(b, off);
}

function readName(b: Buffer, off: number): string {
  const raw = b.subarray(off, off + WALB_DISK_NAME_LEN);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
}

export function encodeWalbStartParam(p: WalbStartParam): Buffer {
  const b = Buffer.alloc(WALB_START_PARAM_SIZE);
  writeName(b, 0, p.name);
  b.writeUInt32LE(u32('maxPendingMb', p.maxPendingMb), 32);
  b.writeUInt32LE(u32('minPendingMb', p.minPendingMb), 36);
  b.writeUInt32LE(u32('queueStopTimeoutMs', p.queueStopTimeoutMs), 40);
  b.writeUInt32LE(u32('maxLogpackKb', p.maxLogpackKb), 44);
  b.writeUInt32LE(u32('logFlushIntervalMs', p.logFlushIntervalMs), 48);
  b.writeUInt32LE(u32('logFlushIntervalMb', p.logFlushIntervalMb), 52);
  b.writeUInt32LE(u32('nPackBulk', p.nPackBulk), 56);
  b.writeUInt32LE(u32('nIoBulk', p.nIoBulk), 60);
  return b;
}

export function decodeWalbStartParam(b: Uint8Array): WalbStartParam {
  if (b.length !== WALB_START_PARAM_SIZE) throw new RangeError(`struct walb_start_param is ${WALB_START_PARAM_SIZE} bytes, got ${b.length}`);
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    name: readName(v, 0),
    maxPendingMb: v.readUInt32LE(32),
    minPendingMb: v.readUInt32LE(36),
    queueStopTimeoutMs: v.readUInt32LE(40),
    maxLogpackKb: v.readUInt32LE(44),
    logFlushIntervalMs: v.readUInt32LE(48),
    logFlushIntervalMb: v.readUInt32LE(52),
    nPackBulk: v.readUInt32LE(56),
    nIoBulk: v.readUInt32LE(60),
  };
}

/** struct walb_disk_data: one entry of LIST_DEV. */
export interface WalbDiskData {
  name: string;
  major: number;
  minor: number;
}

export function decodeWalbDiskData(b: Uint8Array): WalbDiskData {
  if (b.length !== WALB_DISK_DATA_SIZE) throw new RangeError(`struct walb_disk_data is ${WALB_DISK_DATA_SIZE} bytes, got ${b.length}`);
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { name: readName(v, 0), major: v.readUInt32LE(32), minor: v.readUInt32LE(36) };
}

export function encodeWalbDiskData(d: WalbDiskData): Buffer {
  const b = Buffer.alloc(WALB_DISK_DATA_SIZE);
  writeName(b, 0, d.name);
  b.writeUInt32LE(u32('major', d.major), 32);
  b.writeUInt32LE(u32('minor', d.minor), 36);
  return b;
}
