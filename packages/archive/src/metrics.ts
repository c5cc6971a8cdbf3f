/**
 * The archive's Prometheus metrics (names are a contract: docs/pipeline.md §6). Counters are
 * counted by the service; gauges are computed from the volumes when scraped.
 */
import { Counter, Gauge, type Registry } from '@blockwal/core';
import type { Archive } from './archive.js';

export class ArchiveMetrics {
  readonly receivedBytes: Counter<'volume'>;
  readonly receivedDiffs: Counter<'volume'>;
  readonly restores: Counter<'volume' | 'clone'>;
  readonly merges: Counter<'volume'>;
  readonly mergedDiffs: Counter<'volume'>;

  constructor(registry: Registry, archive: Archive, now: () => number = () => Date.now() / 1000) {
    const registers = [registry];
    this.receivedBytes = new Counter({ name: 'blockwal_archive_received_bytes_total', help: 'Bytes of diffs received and stored', labelNames: ['volume'], registers });
    this.receivedDiffs = new Counter({ name: 'blockwal_archive_received_diffs_total', help: 'Diffs received and stored', labelNames: ['volume'], registers });
    this.restores = new Counter({ name: 'blockwal_archive_restores_total', help: 'Snapshots restored to files, by how the base was cloned', labelNames: ['volume', 'clone'], registers });
    this.merges = new Counter({ name: 'blockwal_archive_merges_total', help: 'Background merges of implicit snapshots done (each made one diff)', labelNames: ['volume'], registers });
    this.mergedDiffs = new Counter({ name: 'blockwal_archive_merged_diffs_total', help: 'Diffs merged away (deleted after their merge was registered)', labelNames: ['volume'], registers });
    new Gauge({
      name: 'blockwal_archive_diff_bytes',
      help: 'Bytes of the diffs kept for a volume',
      labelNames: ['volume'],
      registers,
      collect() {
        this.reset();
        for (const v of archive.volumes()) this.set({ volume: v.name }, v.diffBytes);
      },
    });
    new Gauge({
      name: 'blockwal_archive_diffs',
      help: 'Diffs kept for a volume',
      labelNames: ['volume'],
      registers,
      collect() {
        this.reset();
        for (const v of archive.volumes()) this.set({ volume: v.name }, v.diffs.length);
      },
    });
    new Gauge({
      name: 'blockwal_archive_rpo_seconds',
      help: 'Age of the newest restorable snapshot of a volume (absent while none is restorable)',
      labelNames: ['volume'],
      registers,
      collect() {
        this.reset();
        for (const v of archive.volumes()) {
          const rpo = v.rpoSeconds(now());
          if (rpo !== null) this.set({ volume: v.name }, rpo);
        }
      },
    });
  }
}
