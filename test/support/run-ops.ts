/** Small helpers that run core operations file to file, for tests. */
import { closeSync, openSync, statSync } from 'node:fs';
import {
  SequentialWriter,
  openImage,
  closeImage,
  openWdiff,
  redoWdiff,
  redoWlog,
  wlogToWdiff,
  mergeWdiffs,
  SortedSink,
  SortedWdiffWriter,
  IndexedSink,
  IndexedWdiffWriter,
  fullToWdiff,
  writeVirtualFull,
  DEFAULT_COMPRESSION,
  type CompressionSpec,
  type WdiffSource,
  type WlogToWdiffOptions,
  type DiscardMode,
} from '@blockwal/core';
import { zeroImage, fileSha256 } from './scratch.js';

export function toFile<T>(file: string, fn: (w: SequentialWriter) => T): T {
  const fd = openSync(file, 'w');
  try {
    const w = new SequentialWriter(fd, { file });
    const r = fn(w);
    w.flush();
    return r;
  } finally {
    closeSync(fd);
  }
}

export function convertWlog(input: string, output: string, opts: WlogToWdiffOptions = {}) {
  const fd = openSync(input, 'r');
  try {
    return toFile(output, (w) => wlogToWdiff(fd, true, w, { inputName: input, outputName: output, ...opts }));
  } finally {
    closeSync(fd);
  }
}

/** Applies wdiffs/wlogs in order to a zero image of `size` bytes; returns its sha256. */
export function applyToZero(files: string[], image: string, size: number, discard: DiscardMode = 'zero'): string {
  zeroImage(image, size);
  const img = openImage(image);
  try {
    for (const f of files) {
      if (f.endsWith('.wlog')) {
        const fd = openSync(f, 'r');
        try {
          redoWlog(fd, f, img, { discard });
        } finally {
          closeSync(fd);
        }
      } else {
        const src = openWdiff(f);
        try {
          redoWdiff(src, img, { discard });
        } finally {
          src.close();
        }
      }
    }
  } finally {
    closeImage(img);
  }
  return fileSha256(image);
}

export function mergeFiles(inputs: string[], output: string, opts: { compression?: CompressionSpec; indexed?: boolean; maxIoBlocks?: number; uuid?: Uint8Array } = {}) {
  const sources: WdiffSource[] = inputs.map((f) => openWdiff(f));
  try {
    const compression = opts.compression ?? DEFAULT_COMPRESSION;
    const uuid = opts.uuid ?? new Uint8Array(16);
    return toFile(output, (w) => {
      const sink = opts.indexed
        ? new IndexedSink(new IndexedWdiffWriter(w, { uuid, compression }), opts.maxIoBlocks ?? 2048)
        : new SortedSink(new SortedWdiffWriter(w, { uuid, compression }), opts.maxIoBlocks ?? 0);
      return mergeWdiffs(sources, sink, compression);
    });
  } finally {
    sources.forEach((s) => s.close());
  }
}

export function fullFile(input: string, output: string, opts: { indexed?: boolean; ioSize?: number; compression?: CompressionSpec } = {}) {
  const fd = openSync(input, 'r');
  try {
    return toFile(output, (w) => fullToWdiff(fd, true, w, opts));
  } finally {
    closeSync(fd);
  }
}

export function virtFull(base: string, diffs: string[], output: string): void {
  const fd = openSync(base, 'r');
  const sources = diffs.map((f) => openWdiff(f));
  try {
    toFile(output, (w) => writeVirtualFull(fd, statSync(base).size, sources, w));
  } finally {
    closeSync(fd);
    sources.forEach((s) => s.close());
  }
}
