/**
 * Checks a received wdiff file before it is registered: a sorted wdiff (file header checksum and
 * version), its header uuid is the volume's, every pack header checksum, every record checksum,
 * every compressed record decodes to its size, records in order and inside the volume, and the
 * END pack is there (a complete file). Synchronous: it runs in an archive worker thread
 * (jobs.ts), off the event loop.
 */
import { BlockwalError, DiffKind, LOGICAL_BLOCK_SIZE, RejectedError, WDIFF_TYPE_SORTED, openWdiff, uuidToHex } from '@blockwal/core';
import { sameUuid } from './volume.js';

export interface WdiffCheck {
  /** Name in messages, e.g. "volume vol0 diff |3|-->|5|". */
  readonly what: string;
  readonly deviceUuid: Uint8Array;
  readonly sizeBytes: number;
}

export interface WdiffFacts {
  readonly records: number;
  readonly packs: number;
}

/** Throws a FormatError (bad-argument / checksum) or a RejectedError bad-argument naming the problem. */
export function verifyReceivedWdiff(file: string, check: WdiffCheck): WdiffFacts {
  const src = openWdiff(file);
  try {
    if (src.type !== WDIFF_TYPE_SORTED || src.sorted === null) throw new RejectedError('bad-argument', `${check.what}: the file is an indexed wdiff; the archive takes sorted wdiffs`);
    if (!sameUuid(src.header.uuid, check.deviceUuid)) {
      throw new RejectedError('bad-argument', `${check.what}: the file header has device uuid ${uuidToHex(src.header.uuid)}, the volume's is ${uuidToHex(check.deviceUuid)}`);
    }
    const limit = check.sizeBytes / LOGICAL_BLOCK_SIZE;
    let records = 0;
    for (let r = src.next(); r !== null; r = src.next()) {
      if (r.address + r.blocks > limit) {
        throw new RejectedError('bad-argument', `${check.what}: record at address ${r.address} (${r.blocks} lb) ends past the volume size (${check.sizeBytes} bytes)`);
      }
      if (r.kind === DiffKind.Normal) src.readData(r);
      records++;
    }
    if (!src.sorted.endPackSeen) throw new RejectedError('bad-argument', `${check.what}: the file ends without its END pack (truncated)`);
    return { records, packs: src.sorted.packs };
  } catch (e) {
    if (e instanceof RejectedError) throw e;
    if (e instanceof BlockwalError) throw e.at({ file: check.what });
    throw e;
  } finally {
    src.close();
  }
}
