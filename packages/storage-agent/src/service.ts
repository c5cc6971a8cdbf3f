/** StorageService handlers: request -> domain call -> answer; every error through toServiceError. */
import type * as grpc from '@grpc/grpc-js';
import { blockwal, reasonToWire, toServiceError, type StorageServiceHandlers } from '@blockwal/proto';
import type { StorageAgent } from './agent.js';
import type { VolumeStatus } from './volume.js';

import v1 = blockwal.v1;

function unary<Req, Res>(fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (e: unknown) => callback(toServiceError(e)),
    );
  };
}

export function statusToWire(s: VolumeStatus): v1.IStorageVolumeStatus {
  return {
    volume: s.volume,
    state: s.state,
    size: s.sizeBytes,
    nbdUri: s.nbdUri,
    logUsageBytes: s.logUsageBytes,
    logCapacityBytes: s.logCapacityBytes,
    unsentBytes: s.unsentBytes,
    shippedGid: s.shippedGid,
    latestGid: s.latestGid,
    proxy: s.proxy,
    fullSyncBytes: s.fullSyncBytes,
    deviceUuid: s.deviceUuid,
    lastError: s.lastError,
  };
}

export function storageServiceHandlers(agent: StorageAgent): StorageServiceHandlers {
  return {
    addVolume: unary<v1.AddVolumeRequest, v1.IAddVolumeResponse>(async (r) => ({ nbdUri: await agent.addVolume(r.volume, Number(r.size)) })),
    listStorageVolumes: unary<v1.ListStorageVolumesRequest, v1.IListStorageVolumesResponse>(async () => ({ volumes: (await agent.listVolumes()).map(statusToWire) })),
    takeSnapshot: unary<v1.TakeSnapshotRequest, v1.ITakeSnapshotResponse>(async (r) => {
      const s = await agent.takeSnapshot(r.volume, { wait: r.wait, timeoutMs: (r.timeoutSeconds || 600) * 1000 });
      return { gid: s.gid, restorable: s.restorable, reason: s.reason ? reasonToWire(s.reason) : v1.Reason.REASON_OK, message: s.message };
    }),
    startVolume: unary<v1.StartVolumeRequest, v1.IStartVolumeResponse>(async (r) => ({ state: await agent.startVolume(r.volume) })),
    stopVolume: unary<v1.StopVolumeRequest, v1.IStopVolumeResponse>(async (r) => ({ state: await agent.stopVolume(r.volume) })),
    fullBackup: unary<v1.FullBackupRequest, v1.IFullBackupResponse>(async (r) => ({ state: await agent.fullBackup(r.volume) })),
  };
}
