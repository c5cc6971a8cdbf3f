/**
 * The control protocol of a running WAL device: newline-delimited JSON over a unix socket (mode
 * 0600). This is what the storage agent uses in place of WalB's ioctls and sysfs polling.
 *
 *   request  {"id": 1, "op": "setOldestLsid", "args": {"lsid": 4096}}
 *   response {"id": 1, "ok": true, "result": ...} | {"id": 1, "ok": false, "error": {"code": "EINVAL", "message": "..."}}
 *   event    {"event": "lsids", "lsids": {...}, "overflow": false}     (after a "watch" request)
 */
import type { DeviceLsids, DeviceStatus } from '../device/wal-device.js';

export interface ControlOps {
  status: { args: Record<string, never>; result: DeviceStatus };
  lsids: { args: Record<string, never>; result: DeviceLsids };
  setOldestLsid: { args: { lsid: number }; result: DeviceLsids };
  cut: { args: Record<string, never>; result: { lsid: number } };
  freeze: { args: { timeoutMs?: number }; result: null };
  melt: { args: Record<string, never>; result: null };
  grow: { args: { size: number }; result: { size: number } };
  resetLog: { args: Record<string, never>; result: DeviceStatus };
  checkpoint: { args: Record<string, never>; result: DeviceLsids };
  watch: { args: Record<string, never>; result: DeviceLsids };
}

export type ControlOp = keyof ControlOps;

export const CONTROL_OPS: readonly ControlOp[] = ['status', 'lsids', 'setOldestLsid', 'cut', 'freeze', 'melt', 'grow', 'resetLog', 'checkpoint', 'watch'];

export interface ControlRequest {
  id: number;
  op: ControlOp;
  args?: Record<string, unknown>;
}

export interface ControlError {
  code: string;
  message: string;
}

export type ControlResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: ControlError };

export interface ControlEvent {
  event: 'lsids';
  lsids: DeviceLsids;
  overflow: boolean;
}

/** Longest line accepted (a request is small; this bounds a misbehaving client). */
export const MAX_CONTROL_LINE = 64 * 1024;

/** Default control socket of a device: beside its log device. */
export function defaultControlPath(logPath: string): string {
  return `${logPath}.ctl`;
}
