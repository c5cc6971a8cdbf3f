/**
 * Creating a WAL device: the data device (a file made or checked) and the log device (a file made
 * or a block device, formatted with a fresh super sector: random uuid and salt, lsids 0).
 */
import fs from 'node:fs';
import { LOGICAL_BLOCK_SIZE, UsageError, formatLogDevice, ioError, type SuperSector } from '@blockwal/core';
import { blockDeviceSize } from '@blockwal/native-io';
import { superPositions } from './super-store.js';

export interface CreateWalDeviceOptions {
  dataPath: string;
  logPath: string;
  /** Size of the device in bytes (a multiple of 512). */
  size: number;
  /** Size of the log device file in bytes (default: size/8, at least 64 MiB, at most 16 GiB). */
  logSize?: number;
  pbs?: number;
  name?: string;
}

export function defaultLogSize(size: number): number {
  const s = Math.min(16 * 1024 ** 3, Math.max(64 * 1024 ** 2, Math.floor(size / 8)));
  return s - (s % 4096);
}

/**
 * Makes (or checks) the data file and formats the log device. An existing data file must not be
 * smaller than `size` (it is grown when smaller only if it is empty); a regular log file is created
 * or resized to logSize.
 */
export function createWalDevice(o: CreateWalDeviceOptions): SuperSector {
  if (!Number.isSafeInteger(o.size) || o.size <= 0 || o.size % LOGICAL_BLOCK_SIZE !== 0) {
    throw new UsageError(`invalid --size ${o.size}: a positive multiple of 512 bytes`);
  }
  ensureDataFile(o.dataPath, o.size);
  const logSize = o.logSize ?? defaultLogSize(o.size);
  let fd: number;
  try {
    fd = fs.openSync(o.logPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  } catch (e) {
    throw ioError('open', o.logPath, e);
  }
  try {
    const st = fs.fstatSync(fd);
    let size: number;
    if (st.isBlockDevice()) size = blockDeviceSize(fd);
    else {
      fs.ftruncateSync(fd, logSize);
      size = logSize;
    }
    const s = formatLogDevice(fd, o.logPath, { dataSize: o.size, pbs: o.pbs ?? 4096, name: o.name }, size);
    // Clear the backup super sector so that an old one is never taken for this device's.
    const { super1 } = superPositions(s.pbs);
    fs.writeSync(fd, new Uint8Array(s.pbs), 0, s.pbs, super1);
    fs.fdatasyncSync(fd);
    return s;
  } finally {
    fs.closeSync(fd);
  }
}

function ensureDataFile(path: string, size: number): void {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  } catch (e) {
    throw ioError('open', path, e);
  }
  try {
    const st = fs.fstatSync(fd);
    const have = st.isBlockDevice() ? blockDeviceSize(fd) : st.size;
    if (have < size) {
      if (st.isBlockDevice()) throw new UsageError(`${path} has ${have} bytes, less than --size ${size}`);
      fs.ftruncateSync(fd, size);
    }
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
