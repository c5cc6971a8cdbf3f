/**
 * Encoding of the replies completed in one tick: a pure function from reply slots to the list of
 * buffers to write. Every header of the batch goes into one buffer (consecutive headers without
 * data stay contiguous), read data is interleaved as the caller's own buffers (never copied), so
 * the connection issues one corked writev per batch.
 *
 * Reply shapes (proto.md "Simple reply message", "Structured reply chunk message"):
 *   simple (16)              any success without structured replies, errors without them,
 *                            successes other than READ / BLOCK_STATUS with them
 *   simple + data            READ success without structured replies
 *   OFFSET_DATA (28) + data  READ success with structured replies (one final chunk)
 *   NONE (20)                READ of length 0 with structured replies
 *   ERROR (26 + message)     any error with structured replies (one final chunk)
 *   BLOCK_STATUS (32)        one extent of `length` bytes, status 0 (data)
 */
import {
  BLOCK_STATUS_CHUNK_SIZE,
  errorChunkSize,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_READ,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_NONE,
  OFFSET_DATA_HEADER_SIZE,
  SIMPLE_REPLY_SIZE,
  STRUCTURED_HEADER_SIZE,
  writeBlockStatusChunk,
  writeErrorChunk,
  writeOffsetDataHeader,
  writeSimpleReply,
  writeStructuredHeader,
} from './protocol.js';

/** What a reply needs to know about its request and outcome. */
export interface ReplySlot {
  type: number;
  handleHi: number;
  handleLo: number;
  offset: number;
  length: number;
  /** 0 on success, else the NBD error. */
  error: number;
  /** Error message (sent only in structured replies). */
  message: string;
  /** READ data of exactly `length` bytes on success. */
  data: Uint8Array | undefined;
}

/** Messages longer than this are cut (the protocol allows 4096 bytes; humans need less). */
export const MAX_MESSAGE_CHARS = 400;

function messageBytes(s: ReplySlot): Buffer {
  const m = s.message.length > MAX_MESSAGE_CHARS ? s.message.slice(0, MAX_MESSAGE_CHARS) : s.message;
  return Buffer.from(m, 'utf8');
}

/** The buffers to write, in order, for the replies of `slots`. */
export function encodeReplyBatch(slots: readonly ReplySlot[], structured: boolean, metaContextId: number): Uint8Array[] {
  let total = 0;
  let messages: (Buffer | undefined)[] | undefined;
  for (let i = 0; i < slots.length; i++) {
    const r = slots[i]!;
    if (r.error !== 0) {
      if (structured) {
        messages ??= new Array<Buffer | undefined>(slots.length);
        const m = messageBytes(r);
        messages[i] = m;
        total += errorChunkSize(m.length);
      } else total += SIMPLE_REPLY_SIZE;
    } else if (r.type === NBD_CMD_READ && structured) {
      total += r.length > 0 ? OFFSET_DATA_HEADER_SIZE : STRUCTURED_HEADER_SIZE;
    } else if (r.type === NBD_CMD_BLOCK_STATUS) {
      total += BLOCK_STATUS_CHUNK_SIZE;
    } else total += SIMPLE_REPLY_SIZE;
  }
  // Small batches come from Node's shared slab (no fresh memory per tick).
  const hb = Buffer.allocUnsafe(total);
  const parts: Uint8Array[] = [];
  let seg = 0;
  let pos = 0;
  for (let i = 0; i < slots.length; i++) {
    const r = slots[i]!;
    if (r.error !== 0) {
      if (structured) {
        const m = messages![i]!;
        writeErrorChunk(hb, pos, r.handleHi, r.handleLo, r.error, m);
        pos += errorChunkSize(m.length);
      } else {
        writeSimpleReply(hb, pos, r.error, r.handleHi, r.handleLo);
        pos += SIMPLE_REPLY_SIZE;
      }
    } else if (r.type === NBD_CMD_READ) {
      if (!structured) {
        writeSimpleReply(hb, pos, 0, r.handleHi, r.handleLo);
        pos += SIMPLE_REPLY_SIZE;
      } else if (r.length > 0) {
        writeOffsetDataHeader(hb, pos, r.handleHi, r.handleLo, r.offset, r.length);
        pos += OFFSET_DATA_HEADER_SIZE;
      } else {
        writeStructuredHeader(hb, pos, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, r.handleHi, r.handleLo, 0);
        pos += STRUCTURED_HEADER_SIZE;
      }
      if (r.length > 0) {
        parts.push(hb.subarray(seg, pos), r.data!);
        seg = pos;
      }
    } else if (r.type === NBD_CMD_BLOCK_STATUS) {
      writeBlockStatusChunk(hb, pos, r.handleHi, r.handleLo, metaContextId, r.length, 0);
      pos += BLOCK_STATUS_CHUNK_SIZE;
    } else {
      writeSimpleReply(hb, pos, 0, r.handleHi, r.handleLo);
      pos += SIMPLE_REPLY_SIZE;
    }
  }
  if (seg < pos) parts.push(hb.subarray(seg, pos));
  return parts;
}
