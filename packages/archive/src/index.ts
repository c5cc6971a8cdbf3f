/**
 * @blockwal/archive: the archive server — volume store (base image + wdiff chain + state), diff
 * receive, full sync, restore and snapshot streaming. See DESIGN.md.
 */
export { startArchiveServer, ARCHIVE_SERVICE_NAME, type ArchiveServer, type ArchiveServerOptions } from './server.js';
export { Archive, type ArchiveOptions } from './archive.js';
export { setArchiveWorkerUrl, archiveWorkerUrl, WorkerPool } from './worker-pool.js';
export { DiffMerger, pickMerge, type MergePolicy } from './merge.js';
export { Volume, type DiffOffer, type Verdict } from './volume.js';
export type { VolumeRecord, VolumeState, FullSyncProgress } from './state-file.js';
export {
  connectArchive,
  listSnapshots,
  listArchiveVolumes,
  restoreSnapshot,
  readSnapshotToFile,
  pushDiffFile,
  fullSyncFromFile,
  type ArchiveVolumeInfo,
  type RestoreReply,
  type DiffPush,
  type PushDiffResult,
  type FullSyncPush,
  type FullSyncOptions,
} from './client.js';
