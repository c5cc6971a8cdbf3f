/**
 * Per-export counters of the NBD server. Plain mutable numbers, bumped on the hot path and read
 * by whoever exports metrics (the device's Prometheus collector reads `NbdServer.stats()`).
 * Bytes are payload bytes (what the client read or wrote), not protocol overhead.
 */
export interface NbdExportStats {
  /** Requests received (every command except DISC), including rejected ones. */
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  trims: number;
  writeZeroes: number;
  /** Bytes returned by successful reads. */
  bytesRead: number;
  /** Bytes of successful writes (payload). */
  bytesWritten: number;
  /** Bytes covered by successful trims and write-zeroes. */
  bytesZeroedOrTrimmed: number;
  /** Requests answered with an error (rejected by validation or failed by the export). */
  errors: number;
  /** Connections in transmission on this export now. */
  connections: number;
  /** Connections that ever entered transmission on this export. */
  connectionsTotal: number;
}

export function newExportStats(): NbdExportStats {
  return {
    requests: 0,
    reads: 0,
    writes: 0,
    flushes: 0,
    trims: 0,
    writeZeroes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    bytesZeroedOrTrimmed: 0,
    errors: 0,
    connections: 0,
    connectionsTotal: 0,
  };
}
