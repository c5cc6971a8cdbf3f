/**
 * Writes a wlog file (walb-formats §5): the 4096-byte header, then each logpack header block
 * followed by the data blocks of its normal and padding records, then the end marker.
 */
import type { SequentialWriter } from '../io/sequential-writer.js';
import { encodeWlogHeader, type WlogHeader } from './wlog-header.js';
import { encodeEndMarker, nextLogpackLsid, type LogpackHeader } from './logpack.js';
import { encodeLogpackHeader } from './logpack.js';

export class WlogWriter {
  private lsid: number;
  private closed = false;

  constructor(
    private readonly out: SequentialWriter,
    readonly header: WlogHeader,
  ) {
    out.write(encodeWlogHeader(header));
    this.lsid = header.beginLsid;
  }

  /** lsid that the next pack must have. */
  get nextLsid(): number {
    return this.lsid;
  }

  /**
   * Appends one logpack: its header (re-encoded, so a shrunk pack gets a fresh checksum) and its
   * data, which must be exactly total_io_size pb.
   */
  writePack(pack: LogpackHeader, data: Uint8Array | Uint8Array[]): void {
    if (pack.records.length === 0) return; // empty packs are skipped, as walb-tools does
    if (pack.logpackLsid !== this.lsid) throw new RangeError(`logpack lsid ${pack.logpackLsid} does not continue the wlog at ${this.lsid}`);
    const parts = Array.isArray(data) ? data : [data];
    const bytes = parts.reduce((s, p) => s + p.length, 0);
    if (bytes !== pack.totalIoSize * pack.pbs) throw new RangeError(`logpack at lsid ${pack.logpackLsid}: ${bytes} data bytes, expected ${pack.totalIoSize * pack.pbs}`);
    const block = this.out.reserve(pack.pbs);
    encodeLogpackHeader(pack, block);
    this.out.commit(pack.pbs);
    for (const p of parts) this.out.write(p);
    this.lsid = nextLogpackLsid(pack);
  }

  /** Writes the end marker. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.write(encodeEndMarker(this.header.pbs, this.header.salt));
  }
}
