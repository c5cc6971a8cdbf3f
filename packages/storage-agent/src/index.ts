/**
 * @blockwal/storage-agent: captures the log of WAL devices and ships it to proxies; full backups
 * to the primary archive. See DESIGN.md.
 */
export { startStorageServer, type StorageServer } from './server.js';
export { StorageAgent, type AgentPeers, type AttachOptions, type SnapshotResult } from './agent.js';
export { StorageClient, type StorageVolumeInfo, type TakeSnapshotResult } from './client.js';
export type { LogSource, SourceSpec, SourceIdentity, SourceLsids, LogpackData } from './source.js';
export { LocalWalDeviceSource } from './source-local.js';
export { WalDeviceSocketSource } from './source-socket.js';
export { WalbLogDeviceSource, type WalbSourceOptions } from './source-walb.js';
export { LogRing } from './log-ring.js';
export { allocateGid, pushSnapshot, chunkMaxPb, needsImplicitSnapshot, newestRecord } from './snapshot.js';
export { planChunk, resolveSplit, chunkDiff, afterAck, type ChunkPlan, type ChunkDiff } from './chunk.js';
export { transition, isShipping, type VolumeState, type VolumeRecord, type LsidGid } from './state.js';
export { VolumeStore } from './store.js';
export type { VolumeStatus } from './volume.js';
export { nbdTcpUri, parseNbdUri } from './nbd-uri.js';
export { ProxyPool } from './proxy-pool.js';
export { nextBackoff } from './backoff.js';
export type { ProxyLink, ArchiveLink, PushWlogHeader, FullSyncSession, RestorableSnapshot } from './peers.js';
