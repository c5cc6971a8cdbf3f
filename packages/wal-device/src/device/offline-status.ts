/** Status of a WAL device's log read from the files alone (the device need not be running). */
import { LogDeviceReader, emptyLogStats, countLogpack, uuidToHex, type LogStats } from '@blockwal/core';
import { openSync, closeSync } from 'node:fs';
import { ioError } from '@blockwal/core';

export interface OfflineStatus {
  log: string;
  name: string;
  pbs: number;
  uuid: string;
  salt: number;
  deviceSizeBytes: number;
  ringBufferSize: number;
  oldestLsid: number;
  /** Checkpoint: recovery starts here. */
  writtenLsid: number;
  /** End of the valid log (walking from oldest). */
  endLsid: number;
  endReason: string;
  logUsagePb: number;
  overflow: boolean;
  /** True when nothing is left to redo (the device was shut down cleanly). */
  clean: boolean;
  packs: LogStats;
}

export function offlineStatus(logPath: string): OfflineStatus {
  let fd: number;
  try {
    fd = openSync(logPath, 'r');
  } catch (e) {
    throw ioError('open', logPath, e);
  }
  try {
    const r = new LogDeviceReader(fd, logPath);
    const s = r.super;
    const stats = emptyLogStats();
    const it = r.packs(s.oldestLsid);
    let end = { lsid: s.oldestLsid, reason: '' };
    for (;;) {
      const x = it.next();
      if (x.done) {
        end = x.value;
        break;
      }
      countLogpack(stats, x.value.header);
    }
    const usage = end.lsid - s.oldestLsid;
    return {
      log: logPath,
      name: s.name,
      pbs: s.pbs,
      uuid: uuidToHex(s.uuid),
      salt: s.salt,
      deviceSizeBytes: s.deviceSize * 512,
      ringBufferSize: s.ringBufferSize,
      oldestLsid: s.oldestLsid,
      writtenLsid: s.writtenLsid,
      endLsid: end.lsid,
      endReason: end.reason,
      logUsagePb: usage,
      overflow: usage > s.ringBufferSize || end.lsid < s.writtenLsid,
      clean: end.lsid === s.writtenLsid,
      packs: stats,
    };
  } finally {
    closeSync(fd);
  }
}
