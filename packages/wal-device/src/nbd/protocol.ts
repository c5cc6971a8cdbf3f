/**
 * NBD protocol constants and pure encoders/decoders of every message this server sends or reads
 * (NetworkBlockDevice/nbd doc/proto.md, fixed newstyle handshake only). All integers are
 * big-endian. 64-bit fields are JavaScript numbers: values at or above 2^53 decode to a number
 * that is at least 2^53 (never a valid offset or size here), so range checks reject them.
 *
 * Layouts (byte offsets):
 *
 *   server greeting (18)    0 u64 NBDMAGIC   8 u64 IHAVEOPT   16 u16 handshake flags
 *   client flags (4)        0 u32 client flags
 *   option (16 + len)       0 u64 IHAVEOPT   8 u32 option   12 u32 length   16 data[length]
 *   option reply (20 + len) 0 u64 REPLY_MAGIC   8 u32 option   12 u32 reply type
 *                           16 u32 length   20 data[length]
 *   EXPORT_NAME reply       0 u64 size   8 u16 transmission flags   (10) u8[124] zeroes unless NO_ZEROES
 *   request (28 + len)      0 u32 REQUEST_MAGIC   4 u16 command flags   6 u16 type   8 u64 handle
 *                           16 u64 offset   24 u32 length   28 data[length] (WRITE only)
 *   simple reply (16 + len) 0 u32 SIMPLE_REPLY_MAGIC   4 u32 error   8 u64 handle   16 data (READ ok)
 *   structured chunk (20+len) 0 u32 STRUCTURED_REPLY_MAGIC   4 u16 flags   6 u16 type   8 u64 handle
 *                           16 u32 length   20 payload[length]
 *     OFFSET_DATA payload   0 u64 offset   8 data
 *     ERROR payload         0 u32 error   4 u16 message length   6 message
 *     BLOCK_STATUS payload  0 u32 context id   4 (u32 length, u32 flags)*
 */

// ---- magics ----
/** 'NBDMAGIC' as two 32-bit halves. */
export const NBD_MAGIC_HI = 0x4e42444d;
export const NBD_MAGIC_LO = 0x41474943;
/** 'IHAVEOPT' as two 32-bit halves (greeting and every option). */
export const IHAVEOPT_HI = 0x49484156;
export const IHAVEOPT_LO = 0x454f5054;
/** Option reply magic 0x0003e889045565a9 as two 32-bit halves. */
export const OPT_REPLY_MAGIC_HI = 0x0003e889;
export const OPT_REPLY_MAGIC_LO = 0x045565a9;
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// ---- sizes ----
export const GREETING_SIZE = 18;
export const CLIENT_FLAGS_SIZE = 4;
export const OPTION_HEADER_SIZE = 16;
export const OPTION_REPLY_HEADER_SIZE = 20;
export const EXPORT_NAME_REPLY_SIZE = 10;
export const EXPORT_NAME_ZEROES = 124;
export const REQUEST_SIZE = 28;
export const SIMPLE_REPLY_SIZE = 16;
export const STRUCTURED_HEADER_SIZE = 20;
/** Structured OFFSET_DATA chunk header including its 8-byte offset. */
export const OFFSET_DATA_HEADER_SIZE = 28;
/** Protocol limit on strings (export names, error messages, queries). */
export const MAX_STRING_BYTES = 4096;

// ---- handshake flags (server, 16 bits) ----
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
// ---- client flags (32 bits) ----
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// ---- transmission flags (16 bits) ----
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_RESIZE = 1 << 9;
export const NBD_FLAG_SEND_CACHE = 1 << 10;
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

// ---- options ----
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11;

// ---- option reply types ----
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
export const NBD_REP_ERR_UNSUP = 0x80000001;
export const NBD_REP_ERR_POLICY = 0x80000002;
export const NBD_REP_ERR_INVALID = 0x80000003;
export const NBD_REP_ERR_PLATFORM = 0x80000004;
export const NBD_REP_ERR_TLS_REQD = 0x80000005;
export const NBD_REP_ERR_UNKNOWN = 0x80000006;
export const NBD_REP_ERR_SHUTDOWN = 0x80000007;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = 0x80000008;
export const NBD_REP_ERR_TOO_BIG = 0x80000009;

// ---- NBD_REP_INFO types ----
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

// ---- commands ----
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;

// ---- command flags ----
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

// ---- structured replies ----
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_ERROR = 0x8001;
export const NBD_REPLY_TYPE_ERROR_OFFSET = 0x8002;

/** The one metadata context this server knows. */
export const BASE_ALLOCATION = 'base:allocation';

const TWO_32 = 0x1_0000_0000;

/** Reads an unsigned 64-bit big-endian value; values >= 2^53 come back as >= 2^53 (inexact). */
export function readU64BE(b: Uint8Array, off: number): number {
  const v = b as Buffer;
  return v.readUInt32BE(off) * TWO_32 + v.readUInt32BE(off + 4);
}

export function writeU64BE(b: Buffer, off: number, value: number): void {
  b.writeUInt32BE(Math.floor(value / TWO_32) >>> 0, off);
  b.writeUInt32BE(value >>> 0, off + 4);
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

// ---------------------------------------------------------------- handshake

export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.allocUnsafe(GREETING_SIZE);
  b.writeUInt32BE(NBD_MAGIC_HI, 0);
  b.writeUInt32BE(NBD_MAGIC_LO, 4);
  b.writeUInt32BE(IHAVEOPT_HI, 8);
  b.writeUInt32BE(IHAVEOPT_LO, 12);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export interface OptionHeader {
  /** False when the first 8 bytes are not IHAVEOPT (framing lost). */
  magicOk: boolean;
  option: number;
  length: number;
}

export function parseOptionHeader(b: Uint8Array, off = 0): OptionHeader {
  const v = asBuffer(b);
  return {
    magicOk: v.readUInt32BE(off) === IHAVEOPT_HI && v.readUInt32BE(off + 4) === IHAVEOPT_LO,
    option: v.readUInt32BE(off + 8),
    length: v.readUInt32BE(off + 12),
  };
}

/** A client-side option message (tests and tools). */
export function encodeOption(option: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_HEADER_SIZE + data.length);
  b.writeUInt32BE(IHAVEOPT_HI, 0);
  b.writeUInt32BE(IHAVEOPT_LO, 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  b.set(data, OPTION_HEADER_SIZE);
  return b;
}

export function encodeOptionReply(option: number, type: number, data?: Uint8Array): Buffer {
  const len = data ? data.length : 0;
  const b = Buffer.allocUnsafe(OPTION_REPLY_HEADER_SIZE + len);
  b.writeUInt32BE(OPT_REPLY_MAGIC_HI, 0);
  b.writeUInt32BE(OPT_REPLY_MAGIC_LO, 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(len, 16);
  if (data) b.set(data, OPTION_REPLY_HEADER_SIZE);
  return b;
}

export interface OptionReplyHeader {
  magicOk: boolean;
  option: number;
  type: number;
  length: number;
}

export function parseOptionReplyHeader(b: Uint8Array, off = 0): OptionReplyHeader {
  const v = asBuffer(b);
  return {
    magicOk: v.readUInt32BE(off) === OPT_REPLY_MAGIC_HI && v.readUInt32BE(off + 4) === OPT_REPLY_MAGIC_LO,
    option: v.readUInt32BE(off + 8),
    type: v.readUInt32BE(off + 12),
    length: v.readUInt32BE(off + 16),
  };
}

/** Reply to NBD_OPT_EXPORT_NAME: size, transmission flags, and 124 zeroes unless NO_ZEROES. */
export function encodeExportNameReply(size: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(EXPORT_NAME_REPLY_SIZE + (noZeroes ? 0 : EXPORT_NAME_ZEROES));
  writeU64BE(b, 0, size);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

/** NBD_REP_SERVER data: u32 name length, name, then an optional human-readable description. */
export function encodeRepServer(name: string, description?: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const d = Buffer.from(description ?? '', 'utf8');
  const b = Buffer.allocUnsafe(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

/** NBD_INFO_EXPORT (12 bytes): u16 type, u64 size, u16 transmission flags. */
export function encodeInfoExport(size: number, transmissionFlags: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(NBD_INFO_EXPORT, 0);
  writeU64BE(b, 2, size);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}

/** NBD_INFO_NAME / NBD_INFO_DESCRIPTION: u16 type, then the string. */
export function encodeInfoString(type: typeof NBD_INFO_NAME | typeof NBD_INFO_DESCRIPTION, text: string): Buffer {
  const s = Buffer.from(text, 'utf8');
  const b = Buffer.allocUnsafe(2 + s.length);
  b.writeUInt16BE(type, 0);
  s.copy(b, 2);
  return b;
}

/** NBD_INFO_BLOCK_SIZE (14 bytes): u16 type, u32 minimum, u32 preferred, u32 maximum. */
export function encodeInfoBlockSize(min: number, preferred: number, max: number): Buffer {
  const b = Buffer.allocUnsafe(14);
  b.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(min, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(max, 10);
  return b;
}

/** NBD_REP_META_CONTEXT data: u32 context id, name. */
export function encodeMetaContextReply(id: number, name: string): Buffer {
  const s = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(4 + s.length);
  b.writeUInt32BE(id >>> 0, 0);
  s.copy(b, 4);
  return b;
}

/** Decodes a string field; undefined when it is too long, holds a NUL or is not valid UTF-8. */
export function decodeString(b: Uint8Array, start: number, end: number): string | undefined {
  if (end - start > MAX_STRING_BYTES) return undefined;
  const bytes = b.subarray(start, end);
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

export interface InfoRequest {
  name: string;
  /** NBD_INFO_* types the client asked for. */
  requests: number[];
}

/**
 * Data of NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, u16 × count info types.
 * Undefined when the lengths are inconsistent (NBD_REP_ERR_INVALID).
 */
export function parseInfoRequest(data: Uint8Array): InfoRequest | undefined {
  if (data.length < 6) return undefined;
  const v = asBuffer(data);
  const nameLen = v.readUInt32BE(0);
  if (nameLen > data.length - 6) return undefined;
  const name = decodeString(data, 4, 4 + nameLen);
  if (name === undefined) return undefined;
  const count = v.readUInt16BE(4 + nameLen);
  if (data.length !== 6 + nameLen + 2 * count) return undefined;
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(v.readUInt16BE(6 + nameLen + 2 * i));
  return { name, requests };
}

/** Client side of parseInfoRequest. */
export function encodeInfoRequest(name: string, requests: readonly number[] = []): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(6 + n.length + 2 * requests.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(requests.length, 4 + n.length);
  requests.forEach((r, i) => b.writeUInt16BE(r, 6 + n.length + 2 * i));
  return b;
}

export interface MetaContextRequest {
  name: string;
  queries: string[];
}

/**
 * Data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: u32 name length, name,
 * u32 query count, then per query u32 length and the query. Undefined when inconsistent.
 */
export function parseMetaContextRequest(data: Uint8Array, maxQueries: number): MetaContextRequest | 'too-big' | undefined {
  if (data.length < 8) return undefined;
  const v = asBuffer(data);
  const nameLen = v.readUInt32BE(0);
  if (nameLen > data.length - 8) return undefined;
  const name = decodeString(data, 4, 4 + nameLen);
  if (name === undefined) return undefined;
  let pos = 4 + nameLen;
  const count = v.readUInt32BE(pos);
  pos += 4;
  if (count > maxQueries) return 'too-big';
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    if (data.length - pos < 4) return undefined;
    const qLen = v.readUInt32BE(pos);
    pos += 4;
    if (qLen > data.length - pos) return undefined;
    const q = decodeString(data, pos, pos + qLen);
    if (q === undefined) return undefined;
    queries.push(q);
    pos += qLen;
  }
  return pos === data.length ? { name, queries } : undefined;
}

export function encodeMetaContextRequest(name: string, queries: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.from(name, 'utf8');
  const head = Buffer.allocUnsafe(8 + n.length);
  head.writeUInt32BE(n.length, 0);
  n.copy(head, 4);
  head.writeUInt32BE(queries.length, 4 + n.length);
  parts.push(head);
  for (const q of queries) {
    const s = Buffer.from(q, 'utf8');
    const l = Buffer.allocUnsafe(4);
    l.writeUInt32BE(s.length, 0);
    parts.push(l, s);
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- transmission

/** A parsed request header; handle kept as two 32-bit halves so nothing is allocated. */
export interface RequestHeader {
  magic: number;
  flags: number;
  type: number;
  handleHi: number;
  handleLo: number;
  offset: number;
  length: number;
}

/** Fills `into` from the 28 bytes at `off` (no allocation: the hot path calls this per request). */
export function readRequestHeader(b: Buffer, off: number, into: RequestHeader): void {
  into.magic = b.readUInt32BE(off);
  into.flags = b.readUInt16BE(off + 4);
  into.type = b.readUInt16BE(off + 6);
  into.handleHi = b.readUInt32BE(off + 8);
  into.handleLo = b.readUInt32BE(off + 12);
  into.offset = b.readUInt32BE(off + 16) * TWO_32 + b.readUInt32BE(off + 20);
  into.length = b.readUInt32BE(off + 24);
}

/** Client side: a request header (plus payload for writes). */
export function encodeRequest(type: number, flags: number, handle: bigint, offset: number, length: number, data?: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_SIZE + (data ? data.length : 0));
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(handle, 8);
  writeU64BE(b, 16, offset);
  b.writeUInt32BE(length >>> 0, 24);
  if (data) b.set(data, REQUEST_SIZE);
  return b;
}

export function writeSimpleReply(b: Buffer, off: number, error: number, handleHi: number, handleLo: number): void {
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, off);
  b.writeUInt32BE(error, off + 4);
  b.writeUInt32BE(handleHi, off + 8);
  b.writeUInt32BE(handleLo, off + 12);
}

export function writeStructuredHeader(b: Buffer, off: number, flags: number, type: number, handleHi: number, handleLo: number, length: number): void {
  b.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, off);
  b.writeUInt16BE(flags, off + 4);
  b.writeUInt16BE(type, off + 6);
  b.writeUInt32BE(handleHi, off + 8);
  b.writeUInt32BE(handleLo, off + 12);
  b.writeUInt32BE(length, off + 16);
}

/** Header of a final OFFSET_DATA chunk (28 bytes) whose data (dataLength bytes) follows. */
export function writeOffsetDataHeader(b: Buffer, off: number, handleHi: number, handleLo: number, offset: number, dataLength: number): void {
  writeStructuredHeader(b, off, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, handleHi, handleLo, 8 + dataLength);
  writeU64BE(b, off + 20, offset);
}

/** Size of a final ERROR chunk carrying `messageBytes` bytes of message. */
export function errorChunkSize(messageBytes: number): number {
  return STRUCTURED_HEADER_SIZE + 6 + messageBytes;
}

/** A final NBD_REPLY_TYPE_ERROR chunk. */
export function writeErrorChunk(b: Buffer, off: number, handleHi: number, handleLo: number, error: number, message: Uint8Array): void {
  writeStructuredHeader(b, off, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, handleHi, handleLo, 6 + message.length);
  b.writeUInt32BE(error, off + 20);
  b.writeUInt16BE(message.length, off + 24);
  b.set(message, off + 26);
}

/** Size of a final BLOCK_STATUS chunk with one descriptor. */
export const BLOCK_STATUS_CHUNK_SIZE = STRUCTURED_HEADER_SIZE + 12;

/** A final NBD_REPLY_TYPE_BLOCK_STATUS chunk with one extent. */
export function writeBlockStatusChunk(b: Buffer, off: number, handleHi: number, handleLo: number, contextId: number, length: number, status: number): void {
  writeStructuredHeader(b, off, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, handleHi, handleLo, 12);
  b.writeUInt32BE(contextId, off + 20);
  b.writeUInt32BE(length, off + 24);
  b.writeUInt32BE(status, off + 28);
}

/** Names of commands, for logs. */
export function commandName(type: number): string {
  switch (type) {
    case NBD_CMD_READ: return 'READ';
    case NBD_CMD_WRITE: return 'WRITE';
    case NBD_CMD_DISC: return 'DISC';
    case NBD_CMD_FLUSH: return 'FLUSH';
    case NBD_CMD_TRIM: return 'TRIM';
    case NBD_CMD_CACHE: return 'CACHE';
    case NBD_CMD_WRITE_ZEROES: return 'WRITE_ZEROES';
    case NBD_CMD_BLOCK_STATUS: return 'BLOCK_STATUS';
    default: return `CMD_${type}`;
  }
}
