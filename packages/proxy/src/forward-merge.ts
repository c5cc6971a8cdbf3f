/**
 * Makes the file a forward sends: the batch's spool wdiffs (indexed or sorted, oldest first)
 * merged newest-wins into one sorted wdiff with the archive's compression, written to a temp
 * file. One diff alone is converted the same way (the archive takes sorted wdiffs only).
 *
 * Synchronous (core's fd-based readers and writers): the slice of the event loop it takes is
 * bounded by the batch size (mergeMaxBytes of input). The file is not fsynced: it is rebuilt
 * from the spool after a crash (tmp/ is emptied at start-up).
 */
import { closeSync, fstatSync, openSync, rmSync, constants as C } from 'node:fs';
import { DEFAULT_MAX_IO_LB, SequentialWriter, SortedSink, SortedWdiffWriter, ioError, mergeWdiffs, openWdiff, type CompressionSpec, type WdiffSource } from '@blockwal/core';

/** Merges `files` (oldest first) into the sorted wdiff `out`; returns its size in bytes. */
export function mergeForForward(files: readonly string[], out: string, uuid: Uint8Array, compression: CompressionSpec): number {
  const sources: WdiffSource[] = [];
  let fd = -1;
  try {
    for (const f of files) sources.push(openWdiff(f));
    try {
      fd = openSync(out, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
    } catch (e) {
      throw ioError('create', out, e);
    }
    const w = new SequentialWriter(fd, { file: out });
    const sink = new SortedSink(new SortedWdiffWriter(w, { uuid, compression, file: out }), DEFAULT_MAX_IO_LB);
    mergeWdiffs(sources, sink, compression);
    w.flush();
    const size = fstatSync(fd).size;
    closeSync(fd);
    fd = -1;
    return size;
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    fd = -1;
    rmSync(out, { force: true });
    throw e;
  } finally {
    if (fd >= 0) closeSync(fd);
    for (const s of sources) s.close();
  }
}
