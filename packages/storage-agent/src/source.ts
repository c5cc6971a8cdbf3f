/**
 * One interface over the log sources of a volume (the storage agent's view of a WAL device):
 *  - LocalWalDeviceSource (source-local.ts): a blockwal WAL device running in this process;
 *  - WalDeviceSocketSource (source-socket.ts): a WAL device running in another process, reached
 *    by its control socket, its log file (read only) and its NBD URI;
 *  - WalbLogDeviceSource (source-walb.ts): a WalB log device (a WalB kernel device, or an image
 *    file written with the core format tools).
 *
 * Contract: lsids are physical blocks of the infinite log. Only the durable log (below
 * `permanent`) is ever read for shipping; `cut()` returns a logpack boundary below which every
 * write acknowledged before the call is durable; `setOldestLsid` is called only with a lsid a proxy
 * acknowledged (a logpack start or the durable end).
 */
import type { LogpackHeader } from '@blockwal/core';

export interface SourceIdentity {
  /** Device uuid (16 bytes): changes on every log reset. */
  uuid: Uint8Array;
  salt: number;
  pbs: number;
  /** Size of the volume in bytes. */
  sizeBytes: number;
  /** Log ring capacity in pb. */
  ringBufferSize: number;
}

export interface SourceLsids {
  /** The log below is freed (may be overwritten). */
  oldest: number;
  /** The log below is durable: what may be shipped. */
  permanent: number;
  /** End of the log (possibly not durable yet). */
  latest: number;
}

export interface LogpackData {
  header: LogpackHeader;
  /** total_io_size pb of data, checksums verified. Valid until the next pack is read. */
  data: Uint8Array;
}

/** How a volume's device is reached; persisted in the volume's state file. */
export type SourceSpec =
  | { kind: 'local'; dataPath: string; logPath: string }
  | { kind: 'socket'; controlPath: string; logPath: string; nbdUri: string }
  | { kind: 'walb'; logPath: string; dataPath: string; kernel?: boolean };

export interface LogSource {
  readonly spec: SourceSpec;
  /** The NBD URI the volume is served at, when there is one. */
  readonly nbdUri: string | undefined;
  identity(): Promise<SourceIdentity>;
  lsids(): Promise<SourceLsids>;
  isOverflow(): Promise<boolean>;
  /** Calls fn when the durable log grows or the device overflows (events, or a poll). */
  watch(fn: () => void): () => void;
  /** A consistent cut for a snapshot: the durable lsid below which every acknowledged write lies. */
  cut(): Promise<number>;
  /** The logpacks of [begin, end), every checksum checked; a missing or bad pack is an error. */
  readPacks(begin: number, end: number): AsyncGenerator<LogpackData>;
  /**
   * The last logpack boundary in (begin, limit], walking pack headers from begin; the end of the
   * first pack when even that one passes the limit.
   */
  lastBoundary(begin: number, limit: number): Promise<number>;
  /** Frees the log below lsid (after a proxy's ack). */
  setOldestLsid(lsid: number): Promise<void>;
  /** Clears the log: new uuid and salt, lsids 0, overflow cleared. */
  resetLog(): Promise<SourceIdentity>;
  /** Reads the live volume (pending writes included) at a byte offset. */
  readData(offset: number, dest: Uint8Array): Promise<void>;
  close(): Promise<void>;
}
