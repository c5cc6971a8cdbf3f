/**
 * The last step of a full sync, shared by the session and start-up recovery: once the record
 * says the copy is complete (the commit point), delete the old lineage's diffs, rename the copy
 * to base.img, and write the archived record with a new archive uuid. Every step is idempotent,
 * so a crash anywhere in here is finished by running it again at start-up.
 */
import { randomBytes } from 'node:crypto';
import { formatMetaState, metaState, type Logger } from '@blockwal/core';
import type { ArchiveStore } from './store.js';
import type { Volume } from './volume.js';

export function completeFullSync(store: ArchiveStore, vol: Volume, log: Logger): void {
  const p = vol.record.fullSync;
  if (p === null || p.complete === null) throw new Error(`completeFullSync: volume ${vol.name} has no complete copy`);
  const old = store.allDiffNames(vol.name);
  store.deleteDiffs(vol.name, old);
  vol.dropDiffs(old);
  store.promoteSyncImage(vol.name);
  vol.transition(['full-sync'], 'archived', {
    sizeBytes: p.sizeBytes,
    deviceUuid: p.deviceUuid,
    archiveUuid: new Uint8Array(randomBytes(16)),
    base: metaState(p.complete.snapshot, p.complete.timestamp),
    fullSync: null,
  });
  log.info({ volume: vol.name, base: formatMetaState(vol.record.base!), oldDiffs: old.length }, 'full sync done: the copy is the base image');
}
