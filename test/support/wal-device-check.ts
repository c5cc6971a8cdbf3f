/** Checks shared by the WAL device tests. */
import assert from 'node:assert/strict';
import { closeSync, openSync, statSync } from 'node:fs';
import { LogDeviceReader, SequentialWriter, catLogDevice, closeImage, openImage, redoWlog } from '@blockwal/core';
import { zeroImage, fileSha256 } from './scratch.js';

/**
 * `ldev cat` of the whole log (from lsid 0: the ring must not have wrapped) redone onto a zero
 * image gives exactly the data device (the device must be stopped cleanly first).
 */
export function assertLogRebuildsData(logPath: string, dataPath: string, scratch: (name: string) => string): void {
  const wlog = scratch('rebuild.wlog');
  const fd = openSync(logPath, 'r');
  const out = openSync(wlog, 'w');
  try {
    const r = new LogDeviceReader(fd, logPath);
    assert.equal(r.super.oldestLsid, 0, 'the log must hold the whole history for this check');
    const w = new SequentialWriter(out, { file: wlog });
    catLogDevice(r, w);
    w.flush();
  } finally {
    closeSync(fd);
    closeSync(out);
  }
  const img = zeroImage(scratch('rebuild.img'), statSync(dataPath).size);
  const image = openImage(img);
  const wfd = openSync(wlog, 'r');
  try {
    redoWlog(wfd, wlog, image);
  } finally {
    closeSync(wfd);
    closeImage(image);
  }
  assert.equal(fileSha256(img), fileSha256(dataPath), 'the log replayed onto a zero image gives the data device exactly');
}
