/** Runs a WlogDecoder over a file descriptor (a file or a pipe), in large chunks. */
import { readChunks } from '../io/read.js';
import { WlogDecoder, type WlogVisitor } from './wlog-decoder.js';

export interface DecodeWlogOptions {
  file?: string;
  /** False for pipes: read from the current position. Default true (read from offset 0). */
  seekable?: boolean;
}

/** Decodes a whole wlog stream; returns the decoder (its header and real end lsid). */
export function decodeWlogFd(fd: number, visitor: WlogVisitor, opts: DecodeWlogOptions = {}): WlogDecoder {
  const dec = new WlogDecoder(visitor, opts.file);
  readChunks(fd, opts.seekable ?? true, opts.file, (chunk) => dec.push(chunk));
  dec.end();
  return dec;
}
