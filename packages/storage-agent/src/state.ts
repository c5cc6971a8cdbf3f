/**
 * A volume's persisted state and its state machine. The state changes only through
 * `transition(from[], to)`, which refuses any other starting state and logs `A -> B`.
 *
 *   (AddVolume / attach) -> sync-ready
 *   sync-ready | target | stopped | overflow -> full-sync     FullBackup (and the first backup)
 *   full-sync -> target                                        the archive stored the copy
 *   target -> stopped                                          StopVolume
 *   stopped -> target                                          StartVolume (refused after an overflow)
 *   target | stopped | full-sync -> overflow                   the device's log overflowed
 */
import { RejectedError, type Logger } from '@blockwal/core';
import type { SourceSpec } from './source.js';

export type VolumeState = 'sync-ready' | 'full-sync' | 'target' | 'stopped' | 'overflow';

/** A point of the log named by a gid: the done record and the snapshot queue entries (MetaLsidGid). */
export interface LsidGid {
  lsid: number;
  gid: number;
  /** The snapshot here is implicit: a diff starting here may be merged into its predecessor. */
  mergeable: boolean;
  /** Unix seconds. */
  timestamp: number;
}

export interface FullSyncProgress {
  /** The log was reset (or found empty) and done = (0, 0) recorded with this device uuid. */
  uuid: string | null;
  /** The end snapshot of the copy, once allocated (re-sent unchanged after a restart). */
  gidE: number | null;
}

export interface VolumeRecord {
  version: 1;
  volume: string;
  state: VolumeState;
  sizeBytes: number;
  source: SourceSpec;
  /** Device uuid (hex) the done record and the queue belong to. */
  deviceUuid: string;
  /** The last range a proxy acknowledged ends here. */
  done: LsidGid;
  /** Snapshots taken and not shipped yet, oldest first. */
  queue: LsidGid[];
  fullSync: FullSyncProgress | null;
  lastError: string;
}

/** Whether the log is shipped in this state. */
export function isShipping(s: VolumeState): boolean {
  return s === 'target' || s === 'full-sync';
}

/** The reason a request is refused in state s. */
export function reasonInState(s: VolumeState): 'overflow' | 'syncing' | 'stopped' {
  return s === 'overflow' ? 'overflow' : s === 'full-sync' || s === 'sync-ready' ? 'syncing' : 'stopped';
}

/** A copy of rec in state `to`; refused (with the reason of the current state) unless rec.state is in `from`. */
export function transition(rec: VolumeRecord, from: readonly VolumeState[], to: VolumeState, log?: Logger): VolumeRecord {
  if (!from.includes(rec.state)) {
    throw new RejectedError(reasonInState(rec.state), `volume ${rec.volume} is ${rec.state}: cannot go to ${to} (only from ${from.join(', ')})`, { volume: rec.volume });
  }
  log?.info({ from: rec.state, to }, 'state transition');
  return { ...rec, state: to };
}
