/**
 * Typed calls of the WalB kernel driver's ioctls (walb-formats §4.3). `fd` is an open
 * /dev/walb/NAME (WDEV commands; walb-tools opens it O_RDWR) or /dev/walb/control (CONTROL
 * commands). Needs the addon; without it every call throws ENOSYS. On a file that is not a WalB
 * device the kernel answers ENOTTY, thrown as a Node-style error (`code: 'ENOTTY'`).
 */
import {
  WALB_DYNAMIC_MINOR,
  WALB_IOCTL_CONTROL,
  WALB_IOCTL_WDEV,
  WALB_START_PARAM_SIZE,
  DEFAULT_WALB_START_PARAM,
  WalbCtlCommand,
  checkWalbStartParam,
  decodeWalbCtl,
  decodeWalbStartParam,
  encodeWalbCtl,
  encodeWalbStartParam,
  type WalbCtl,
  type WalbCtlInput,
  type WalbStartParam,
} from './walb-ctl.js';
import { native, nativeError, notSupportedError } from './native.js';

/** A device number pair, as in sysfs "MAJ:MIN". */
export interface DevId {
  major: number;
  minor: number;
}

export interface WalbIoctlError extends Error {
  code: string;
  /** walb_ctl.error as the driver left it (START_DEV: −1..−8). */
  walbError?: number;
  command?: string;
}

/**
 * One WALB_IOCTL_CONTROL / WALB_IOCTL_WDEV call: encodes `ctl`, passes u2k/k2u buffers (their
 * lengths become buf_size), returns the struct as the kernel left it. Errors carry `walbError`.
 */
export function walbCtlCall(
  fd: number,
  request: typeof WALB_IOCTL_CONTROL | typeof WALB_IOCTL_WDEV,
  ctl: WalbCtlInput,
  u2kBuf?: Uint8Array,
  k2uBuf?: Uint8Array,
): WalbCtl {
  const command = WalbCtlCommand[ctl.command ?? 0] ?? String(ctl.command);
  if (native === null) throw notSupportedError('ioctl', `WALB ${command} needs the native addon`);
  const raw = encodeWalbCtl(ctl);
  try {
    native.ioctlWalbCtl(fd, request, raw, u2kBuf ?? null, k2uBuf ?? null);
  } catch (e) {
    const err = nativeError(e, { op: `WALB ${command}` }) as WalbIoctlError;
    err.command = command;
    const after = decodeWalbCtl(raw);
    if (after.error !== 0) err.walbError = after.error;
    throw err;
  }
  return decodeWalbCtl(raw);
}

function wdev(fd: number, command: WalbCtlCommand, ctl: WalbCtlInput = {}): WalbCtl {
  return walbCtlCall(fd, WALB_IOCTL_WDEV, { ...ctl, command });
}

function toSafeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`WalB ${what}: value ${v} is beyond 2^53 - 1`);
  return Number(v);
}

/** WALB_IOCTL_VERSION: `(major << 16) | (minor << 8) | patch` (driver 1.5.1 → 0x00010501). */
export function walbGetVersion(fd: number): number {
  if (native === null) throw notSupportedError('ioctl', 'WALB VERSION needs the native addon');
  try {
    return native.walbVersion(fd);
  } catch (e) {
    throw nativeError(e, { op: 'WALB VERSION' });
  }
}

export type WalbLsidKind = 'oldest' | 'written' | 'permanent' | 'completed';

const LSID_COMMANDS: Record<WalbLsidKind, WalbCtlCommand> = {
  oldest: WalbCtlCommand.GetOldestLsid,
  written: WalbCtlCommand.GetWrittenLsid,
  permanent: WalbCtlCommand.GetPermanentLsid,
  completed: WalbCtlCommand.GetCompletedLsid,
};

/** One of the device's lsids. The invalid lsid (all ones) is an error, as in walb-tools. */
export function walbGetLsid(fd: number, kind: WalbLsidKind): number {
  const v = wdev(fd, LSID_COMMANDS[kind]).valU64;
  if (v === 0xffffffffffffffffn) throw new RangeError(`WalB ${kind} lsid: the driver returned the invalid lsid`);
  return toSafeNumber(v, `${kind} lsid`);
}

/** Frees the log up to `lsid` (oldest ≤ lsid ≤ prev_written; the driver checks). */
export function walbSetOldestLsid(fd: number, lsid: number): void {
  if (!Number.isSafeInteger(lsid) || lsid < 0) throw new RangeError(`lsid must be a non-negative safe integer, got ${lsid}`);
  wdev(fd, WalbCtlCommand.SetOldestLsid, { valU64: BigInt(lsid) });
}

/** latest − oldest, in physical blocks. */
export function walbGetLogUsage(fd: number): number {
  return toSafeNumber(wdev(fd, WalbCtlCommand.GetLogUsage).valU64, 'log usage');
}

/** The ring buffer size, in physical blocks. */
export function walbGetLogCapacity(fd: number): number {
  return toSafeNumber(wdev(fd, WalbCtlCommand.GetLogCapacity).valU64, 'log capacity');
}

export function walbIsLogOverflow(fd: number): boolean {
  return wdev(fd, WalbCtlCommand.IsLogOverflow).valInt !== 0;
}

export function walbIsFlushCapable(fd: number): boolean {
  return wdev(fd, WalbCtlCommand.IsFlushCapable).valInt !== 0;
}

/** Stops write IO processing and checkpointing; `timeoutSec` 0 = until melted (clipped to 86400). */
export function walbFreeze(fd: number, timeoutSec = 0): void {
  if (!Number.isInteger(timeoutSec) || timeoutSec < 0 || timeoutSec > 0xffffffff) throw new RangeError(`timeoutSec must be a u32, got ${timeoutSec}`);
  wdev(fd, WalbCtlCommand.Freeze, { valU32: timeoutSec });
}

export function walbMelt(fd: number): void {
  wdev(fd, WalbCtlCommand.Melt, { valInt: 0 });
}

export function walbIsFrozen(fd: number): boolean {
  return wdev(fd, WalbCtlCommand.IsFrozen).valInt !== 0;
}

/** Grows the device to `sizeLb` logical blocks (0 = the size of the data device). */
export function walbResize(fd: number, sizeLb = 0): void {
  if (!Number.isSafeInteger(sizeLb) || sizeLb < 0) throw new RangeError(`sizeLb must be a non-negative safe integer, got ${sizeLb}`);
  wdev(fd, WalbCtlCommand.Resize, { valU64: BigInt(sizeLb) });
}

/** reset-wal: all lsids := 0, new uuid and salt, overflow cleared. Fails when frozen. */
export function walbClearLog(fd: number): void {
  wdev(fd, WalbCtlCommand.ClearLog, { valInt: 0 });
}

/** Syncs the super sector now (if `written` changed). */
export function walbTakeCheckpoint(fd: number): void {
  wdev(fd, WalbCtlCommand.TakeCheckpoint, { valInt: 0 });
}

export function walbGetCheckpointInterval(fd: number): number {
  return wdev(fd, WalbCtlCommand.GetCheckpointInterval).valU32;
}

export function walbSetCheckpointInterval(fd: number, intervalMs: number): void {
  if (!Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > 86_400_000) throw new RangeError(`intervalMs must be 0..86400000, got ${intervalMs}`);
  wdev(fd, WalbCtlCommand.SetCheckpointInterval, { valU32: intervalMs });
}

export interface WalbStartResult {
  wdev: DevId;
  /** The parameters the driver actually used (name filled in). */
  params: WalbStartParam;
}

/**
 * START_DEV on /dev/walb/control: makes a WalB device of a formatted log device and a data
 * device. `wminor` undefined = dynamic. Both buffers are 64 bytes, as the driver requires.
 */
export function walbStartDev(
  controlFd: number,
  ldev: DevId,
  ddev: DevId,
  params: Partial<WalbStartParam> = {},
  wminor?: number,
): WalbStartResult {
  const full: WalbStartParam = { ...DEFAULT_WALB_START_PARAM, ...params };
  const bad = checkWalbStartParam(full);
  if (bad.length > 0) throw new RangeError(`walb_start_param: ${bad.join('; ')}`);
  const u2k = encodeWalbStartParam(full);
  const k2u = Buffer.alloc(WALB_START_PARAM_SIZE);
  const r = walbCtlCall(controlFd, WALB_IOCTL_CONTROL, {
    command: WalbCtlCommand.StartDev,
    u2k: { lmajor: ldev.major, lminor: ldev.minor, dmajor: ddev.major, dminor: ddev.minor, wminor: wminor ?? WALB_DYNAMIC_MINOR },
  }, u2k, k2u);
  if (r.error !== 0) {
    const err = new Error(`WALB StartDev: the driver reported error ${r.error}`) as WalbIoctlError;
    err.code = 'EWALB';
    err.walbError = r.error;
    err.command = 'StartDev';
    throw err;
  }
  return { wdev: { major: r.k2u.wmajor, minor: r.k2u.wminor }, params: decodeWalbStartParam(k2u) };
}

/** STOP_DEV on /dev/walb/control; `force` stops it even when open (EBUSY otherwise). */
export function walbStopDev(controlFd: number, wdevId: DevId, force = false): void {
  walbCtlCall(controlFd, WALB_IOCTL_CONTROL, {
    command: WalbCtlCommand.StopDev,
    valInt: force ? 1 : 0,
    u2k: { wmajor: wdevId.major, wminor: wdevId.minor },
  });
}

/** The major number of WalB devices (GET_MAJOR on /dev/walb/control). */
export function walbGetMajor(controlFd: number): number {
  return walbCtlCall(controlFd, WALB_IOCTL_CONTROL, { command: WalbCtlCommand.GetMajor }).k2u.wmajor;
}

/** How many WalB devices exist (NUM_OF_DEV on /dev/walb/control). */
export function walbNumOfDev(controlFd: number): number {
  return walbCtlCall(controlFd, WALB_IOCTL_CONTROL, { command: WalbCtlCommand.NumOfDev }).valInt;
}
