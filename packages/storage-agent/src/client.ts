/**
 * A small typed client of StorageService (for the CLI and tests): promises, plain objects, and
 * typed errors (RejectedError with the server's reason, via fromServiceError).
 */
import type * as grpc from '@grpc/grpc-js';
import { RejectedError, type TlsConfig } from '@blockwal/core';
import { StorageServiceClient, blockwal, channelCredentials, clientOptions, deadlineIn, fromServiceError, reasonFromWire } from '@blockwal/proto';

export interface StorageVolumeInfo {
  volume: string;
  state: string;
  sizeBytes: number;
  nbdUri: string;
  logUsageBytes: number;
  logCapacityBytes: number;
  unsentBytes: number;
  shippedGid: number;
  latestGid: number;
  proxy: string;
  fullSyncBytes: number;
  deviceUuid: string;
  lastError: string;
}

export interface TakeSnapshotResult {
  gid: number;
  restorable: boolean;
  /** Why it is not restorable yet (wait=true only). */
  reason?: string;
  message: string;
}

const DEFAULT_DEADLINE_MS = 60_000;

export class StorageClient {
  private readonly client: StorageServiceClient;

  constructor(
    readonly address: string,
    tls?: TlsConfig,
  ) {
    this.client = new StorageServiceClient(address, channelCredentials(tls), clientOptions());
  }

  async addVolume(volume: string, sizeBytes: number): Promise<{ nbdUri: string }> {
    const r = await this.call<blockwal.v1.AddVolumeResponse>((o, cb) => this.client.addVolume({ volume, size: sizeBytes }, o, cb));
    return { nbdUri: r.nbdUri };
  }

  async listVolumes(): Promise<StorageVolumeInfo[]> {
    const r = await this.call<blockwal.v1.ListStorageVolumesResponse>((o, cb) => this.client.listStorageVolumes({}, o, cb));
    return r.volumes.map((v) => ({
      volume: v.volume ?? '',
      state: v.state ?? '',
      sizeBytes: Number(v.size),
      nbdUri: v.nbdUri ?? '',
      logUsageBytes: Number(v.logUsageBytes),
      logCapacityBytes: Number(v.logCapacityBytes),
      unsentBytes: Number(v.unsentBytes),
      shippedGid: Number(v.shippedGid),
      latestGid: Number(v.latestGid),
      proxy: v.proxy ?? '',
      fullSyncBytes: Number(v.fullSyncBytes),
      deviceUuid: Buffer.from(v.deviceUuid ?? new Uint8Array(0)).toString('hex'),
      lastError: v.lastError ?? '',
    }));
  }

  async takeSnapshot(volume: string, o: { wait?: boolean; timeoutSeconds?: number } = {}): Promise<TakeSnapshotResult> {
    const waitMs = o.wait ? (o.timeoutSeconds || 600) * 1000 : 0;
    const r = await this.call<blockwal.v1.TakeSnapshotResponse>((opts, cb) => this.client.takeSnapshot({ volume, wait: !!o.wait, timeoutSeconds: o.timeoutSeconds ?? 0 }, opts, cb), DEFAULT_DEADLINE_MS + waitMs);
    return { gid: Number(r.gid), restorable: r.restorable, reason: reasonFromWire(r.reason), message: r.message };
  }

  async startVolume(volume: string): Promise<string> {
    return (await this.call<blockwal.v1.StartVolumeResponse>((o, cb) => this.client.startVolume({ volume }, o, cb))).state;
  }

  async stopVolume(volume: string): Promise<string> {
    return (await this.call<blockwal.v1.StopVolumeResponse>((o, cb) => this.client.stopVolume({ volume }, o, cb))).state;
  }

  async fullBackup(volume: string): Promise<string> {
    return (await this.call<blockwal.v1.FullBackupResponse>((o, cb) => this.client.fullBackup({ volume }, o, cb))).state;
  }

  close(): void {
    this.client.close();
  }

  private call<T>(fn: (o: grpc.CallOptions, cb: grpc.requestCallback<T>) => void, deadlineMs = DEFAULT_DEADLINE_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      fn({ deadline: deadlineIn(deadlineMs) }, (err, res) => {
        if (err) reject(fromServiceError(err, `storage ${this.address}`));
        else if (!res) reject(new RejectedError('internal', `storage ${this.address}: empty answer`));
        else resolve(res);
      });
    });
  }
}
