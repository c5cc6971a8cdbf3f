/**
 * The proxy's metrics (names fixed by docs/pipeline.md §6). Spool gauges and the forward lag are
 * computed from the spool index when scraped, so they can never drift from the disk.
 */
import { Counter, Gauge, type Registry } from '@blockwal/core';
import type { SpoolStore } from './store.js';

export class ProxyMetrics {
  readonly receivedBytes: Counter<'volume'>;
  readonly receivedWlogs: Counter<'volume'>;
  readonly forwardedBytes: Counter<'volume' | 'archive'>;
  readonly forwardedDiffs: Counter<'volume' | 'archive'>;
  readonly rejects: Counter<'volume' | 'reason'>;

  constructor(registry: Registry, store: SpoolStore, now: () => number = Date.now) {
    const registers = [registry];
    this.receivedBytes = new Counter({ name: 'blockwal_proxy_received_bytes_total', help: 'Bytes of wlogs received and spooled', labelNames: ['volume'], registers });
    this.receivedWlogs = new Counter({ name: 'blockwal_proxy_received_wlogs_total', help: 'Wlogs received and spooled', labelNames: ['volume'], registers });
    this.forwardedBytes = new Counter({ name: 'blockwal_proxy_forwarded_bytes_total', help: 'Bytes of wdiffs stored by archives', labelNames: ['volume', 'archive'], registers });
    this.forwardedDiffs = new Counter({ name: 'blockwal_proxy_forwarded_diffs_total', help: 'Wdiffs (after merging) stored by archives', labelNames: ['volume', 'archive'], registers });
    this.rejects = new Counter({ name: 'blockwal_proxy_rejects_total', help: 'Wlogs refused, by reason', labelNames: ['volume', 'reason'], registers });
    const perSpool = (f: (diffs: ReturnType<SpoolStore['spool']>) => number) =>
      function (this: Gauge<'volume' | 'archive'>) {
        this.reset();
        for (const archive of store.archives()) {
          for (const volume of store.volumes()) this.set({ volume, archive }, f(store.spool(archive, volume)));
        }
      };
    new Gauge({ name: 'blockwal_proxy_spool_bytes', help: 'Bytes of wdiffs waiting for an archive', labelNames: ['volume', 'archive'], registers, collect: perSpool((d) => d.reduce((s, x) => s + x.bytes, 0)) });
    new Gauge({ name: 'blockwal_proxy_spool_diffs', help: 'Wdiffs waiting for an archive', labelNames: ['volume', 'archive'], registers, collect: perSpool((d) => d.length) });
    new Gauge({
      name: 'blockwal_proxy_forward_lag_seconds',
      help: 'Age of the oldest diff waiting for an archive (0 when none)',
      labelNames: ['volume', 'archive'],
      registers,
      collect: perSpool((d) => (d.length === 0 ? 0 : Math.max(0, now() / 1000 - Math.min(...d.map((x) => x.diff.timestamp))))),
    });
  }
}
