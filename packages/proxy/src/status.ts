/** What GetProxyStatus reports: per volume, each archive's spool; the spool total and quota. */
import type { SpoolStore } from './store.js';

export interface SpoolStatus {
  archive: string;
  diffs: number;
  bytes: number;
  /** Unix seconds of the oldest diff waiting (0 when empty). */
  oldestTimestamp: number;
  /** The last forwarding error ('' when none). */
  lastError: string;
}

export interface ProxyVolumeStatus {
  volume: string;
  spools: SpoolStatus[];
}

export interface ProxyStatus {
  volumes: ProxyVolumeStatus[];
  /** Disk used by the spool (each received file once). */
  spoolBytes: number;
  quotaBytes: number;
}

export function proxyStatus(store: SpoolStore, quotaBytes: number, lastError: (volume: string, archive: string) => string): ProxyStatus {
  const volumes = store.volumes().map((volume) => ({
    volume,
    spools: store.archives().map((archive): SpoolStatus => {
      const d = store.spool(archive, volume);
      return {
        archive,
        diffs: d.length,
        bytes: d.reduce((s, x) => s + x.bytes, 0),
        oldestTimestamp: d.length === 0 ? 0 : Math.min(...d.map((x) => x.diff.timestamp)),
        lastError: lastError(volume, archive),
      };
    }),
  }));
  return { volumes, spoolBytes: store.totalBytes, quotaBytes };
}
