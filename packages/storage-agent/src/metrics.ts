/** The storage agent's metrics (names are a contract: docs/pipeline.md §6). */
import { Counter, Gauge, type Registry } from '@blockwal/core';
import type { VolumeStatus } from './volume.js';

export class StorageMetrics {
  private readonly shippedBytes: Counter<'volume' | 'proxy'>;
  private readonly shippedWlogs: Counter<'volume' | 'proxy'>;
  private readonly shipErrors: Counter<'volume' | 'proxy' | 'reason'>;
  private readonly fullSyncBytes: Counter<'volume'>;

  constructor(
    readonly registry: Registry,
    statuses: () => Promise<VolumeStatus[]>,
  ) {
    const gauge = (name: string, help: string, pick: (s: VolumeStatus) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['volume'],
        registers: [registry],
        async collect() {
          this.reset();
          for (const s of await statuses().catch(() => [])) this.set({ volume: s.volume }, pick(s));
        },
      });
    gauge('blockwal_storage_log_usage_bytes', 'Log ring in use (latest - oldest lsid), bytes', (s) => s.logUsageBytes);
    gauge('blockwal_storage_log_capacity_bytes', 'Log ring capacity, bytes', (s) => s.logCapacityBytes);
    gauge('blockwal_storage_unsent_bytes', 'Log captured but not yet acknowledged by a proxy, bytes', (s) => s.unsentBytes);
    this.shippedBytes = new Counter({ name: 'blockwal_storage_shipped_bytes_total', help: 'wlog bytes acknowledged by proxies', labelNames: ['volume', 'proxy'], registers: [registry] });
    this.shippedWlogs = new Counter({ name: 'blockwal_storage_shipped_wlogs_total', help: 'wlogs acknowledged by proxies', labelNames: ['volume', 'proxy'], registers: [registry] });
    this.shipErrors = new Counter({ name: 'blockwal_storage_ship_errors_total', help: 'Failed wlog transfers, by reason', labelNames: ['volume', 'proxy', 'reason'], registers: [registry] });
    this.fullSyncBytes = new Counter({ name: 'blockwal_storage_full_sync_bytes_total', help: 'Bytes of the volume copied by full backups', labelNames: ['volume'], registers: [registry] });
  }

  shipped(volume: string, proxy: string, bytes: number): void {
    this.shippedBytes.inc({ volume, proxy }, bytes);
    this.shippedWlogs.inc({ volume, proxy });
  }

  shipError(volume: string, proxy: string, reason: string): void {
    this.shipErrors.inc({ volume, proxy, reason });
  }

  fullSync(volume: string, bytes: number): void {
    this.fullSyncBytes.inc({ volume }, bytes);
  }
}
