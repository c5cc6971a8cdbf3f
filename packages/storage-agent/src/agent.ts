/**
 * The storage agent's domain: its volumes (record, source, wlog task, full backup), the NBD server
 * of the WAL devices it runs, its proxies and its primary archive. No gRPC here: the peers are
 * reached through ProxyLink / ArchiveLink, and service.ts maps requests and errors.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RejectedError, componentLogger, uuidToHex, type Logger, type StorageConfig } from '@blockwal/core';
import { NbdServer, StaticExportProvider, WalDevice, createWalDevice, openDeviceFile, type NbdAddress } from '@blockwal/wal-device';
import { FullBackupTask } from './full-backup.js';
import type { StorageMetrics } from './metrics.js';
import { nbdTcpUri } from './nbd-uri.js';
import type { ArchiveLink, ProxyLink } from './peers.js';
import { ProxyPool } from './proxy-pool.js';
import { Shipper } from './ship.js';
import { LocalWalDeviceSource } from './source-local.js';
import { WalDeviceSocketSource } from './source-socket.js';
import { WalbLogDeviceSource } from './source-walb.js';
import type { LogSource, SourceSpec } from './source.js';
import type { VolumeRecord, VolumeState } from './state.js';
import { VolumeStore } from './store.js';
import { checkVolumeName, checkVolumeSize, logSizeFor } from './validate.js';
import { Volume, nowSec, type VolumeStatus } from './volume.js';

export interface AgentPeers {
  /** In priority order. */
  proxies: ProxyLink[];
  archive: ArchiveLink;
}

export interface SnapshotResult {
  gid: number;
  restorable: boolean;
  reason?: 'stopped';
  message: string;
}

export interface AttachOptions {
  /** Start a full backup right away (default true). */
  fullBackup?: boolean;
}

interface Entry {
  vol: Volume;
  shipper: Shipper;
  backup: FullBackupTask | null;
}

/** How often TakeSnapshot(wait) asks the archive. */
const WAIT_POLL_MS = 250;
/** Events of the device are batched this long before a transfer. */
const SHIP_BATCH_MS = 100;

export class StorageAgent {
  private readonly volumes = new Map<string, Entry>();
  private readonly store: VolumeStore;
  private readonly pool: ProxyPool<ProxyLink>;
  private readonly provider = new StaticExportProvider();
  private readonly nbd: NbdServer;
  private nbdAddr: NbdAddress | null = null;
  private closed = false;
  private readonly log: Logger;

  private constructor(
    readonly cfg: StorageConfig,
    private readonly peers: AgentPeers,
    private readonly metrics: StorageMetrics,
    private readonly root: Logger,
  ) {
    this.log = componentLogger(root, 'storage');
    this.store = new VolumeStore(path.resolve(cfg.dir));
    this.pool = new ProxyPool(
      peers.proxies.map((p) => ({ name: p.name, link: p })),
      cfg.proxyDownMs,
    );
    const nbdLog = componentLogger(root, 'storage.device');
    this.nbd = new NbdServer(this.provider, { logger: (level, message, fields) => (level === 'error' || level === 'warn' ? nbdLog[level](fields ?? {}, message) : undefined) });
  }

  /** Listens for NBD, re-opens (recovering) and re-serves every volume of the directory, resumes their work. */
  static async start(cfg: StorageConfig, peers: AgentPeers, metrics: StorageMetrics, log: Logger): Promise<StorageAgent> {
    const a = new StorageAgent(cfg, peers, metrics, log);
    const [host, port] = splitHostPort(cfg.nbdListen);
    a.nbdAddr = await a.nbd.listen({ host, port });
    try {
      for (const name of a.store.list()) await a.openVolume(name);
    } catch (e) {
      await a.close();
      throw e;
    }
    return a;
  }

  /** host:port the WAL devices are served at. */
  get nbdAddress(): string {
    const a = this.nbdAddr;
    return a && a.kind === 'tcp' ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : '';
  }

  // ------------------------------------------------------------------ requests

  /** Creates a volume: WAL device files, NBD export, capture, and a full backup in the background. */
  async addVolume(name: string, size: number): Promise<string> {
    checkVolumeName(name);
    checkVolumeSize(size, name);
    this.checkOpen();
    if (this.volumes.has(name) || this.store.has(name)) throw new RejectedError('bad-argument', `volume ${name} already exists`, { volume: name });
    this.store.createDir(name);
    const spec: SourceSpec = { kind: 'local', dataPath: this.store.dataPath(name), logPath: this.store.logPath(name) };
    // Files left by an AddVolume that crashed before its state file was written: start over.
    fs.rmSync(spec.dataPath, { force: true });
    fs.rmSync(spec.logPath, { force: true });
    createWalDevice({ dataPath: spec.dataPath, logPath: spec.logPath, size, logSize: logSizeFor(size, this.cfg.logSizeBytes), pbs: 4096, name: name.length <= 25 ? name : undefined });
    const e = await this.createVolume(name, spec, size);
    this.startFullBackup(e, true);
    return e.vol.source.nbdUri ?? '';
  }

  /**
   * Attaches an existing device as a volume: a WAL device of this host (`local`, served by this
   * agent), one served by another process (`socket`), or a WalB log device (`walb`). The volume
   * starts in sync-ready and (by default) runs a full backup.
   */
  async attachVolume(name: string, spec: SourceSpec, o: AttachOptions = {}): Promise<VolumeStatus> {
    checkVolumeName(name);
    this.checkOpen();
    if (this.volumes.has(name) || this.store.has(name)) throw new RejectedError('bad-argument', `volume ${name} already exists`, { volume: name });
    this.store.createDir(name);
    const abs = absoluteSpec(spec);
    const e = await this.createVolume(name, abs, null);
    if (o.fullBackup ?? true) this.startFullBackup(e, false);
    return e.vol.status();
  }

  async listVolumes(): Promise<VolumeStatus[]> {
    return Promise.all([...this.volumes.values()].map((e) => e.vol.status()));
  }

  async volumeStatus(name: string): Promise<VolumeStatus> {
    return this.entry(name).vol.status();
  }

  /** An explicit snapshot; with wait, until the primary archive lists it as restorable (or the timeout). */
  async takeSnapshot(name: string, o: { wait?: boolean; timeoutMs?: number } = {}): Promise<SnapshotResult> {
    const e = this.entry(name);
    const rec = await e.vol.snapshot({ explicit: true, states: ['target', 'stopped'] });
    e.shipper.kick();
    if (!o.wait) return { gid: rec.gid, restorable: false, message: '' };
    const deadline = Date.now() + (o.timeoutMs ?? 600_000);
    let last = '';
    for (;;) {
      try {
        const list = await this.peers.archive.listSnapshots(name, true);
        if (list.some((s) => s.gid === rec.gid)) return { gid: rec.gid, restorable: true, message: '' };
        last = `newest restorable gid ${list.length > 0 ? list[list.length - 1]!.gid : 'none'}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() >= deadline || this.closed) {
        return { gid: rec.gid, restorable: false, reason: 'stopped', message: `snapshot ${rec.gid} of volume ${name} was not restorable at archive ${this.peers.archive.name} within ${o.timeoutMs ?? 600_000} ms (${last})` };
      }
      await new Promise((r) => setTimeout(r, Math.min(WAIT_POLL_MS, Math.max(1, deadline - Date.now()))));
    }
  }

  async startVolume(name: string): Promise<VolumeState> {
    const e = this.entry(name);
    if (e.vol.state === 'target') return 'target';
    if (await e.vol.source.isOverflow()) e.vol.markOverflow();
    e.vol.transition(['stopped'], 'target');
    e.shipper.start();
    return e.vol.state;
  }

  async stopVolume(name: string): Promise<VolumeState> {
    const e = this.entry(name);
    if (e.vol.state === 'stopped' || e.vol.state === 'overflow') return e.vol.state;
    e.vol.transition(['target'], 'stopped');
    await e.shipper.stop();
    return e.vol.state;
  }

  async fullBackup(name: string): Promise<VolumeState> {
    const e = this.entry(name);
    if (e.backup) return e.vol.state;
    e.vol.requireState(['sync-ready', 'target', 'stopped', 'overflow'], 'full backup');
    this.startFullBackup(e, false);
    return e.vol.state;
  }

  /** Waits for the running full backup of a volume (tests, CLI). */
  async fullBackupDone(name: string): Promise<void> {
    await this.entry(name).backup?.done;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.volumes.values()].map(async (e) => {
      await e.backup?.cancel();
      await e.shipper.stop();
    }));
    await this.nbd.close();
    for (const e of this.volumes.values()) {
      try {
        await e.vol.source.close();
      } catch (err) {
        this.log.error({ volume: e.vol.name, err: (err as Error).message }, 'closing the device failed');
      }
    }
    this.volumes.clear();
  }

  // ------------------------------------------------------------------ internals

  private checkOpen(): void {
    if (this.closed) throw new RejectedError('stopped', 'the storage agent is shutting down');
  }

  private entry(name: string): Entry {
    checkVolumeName(name);
    const e = this.volumes.get(name);
    if (!e) throw new RejectedError('not-found', `no volume ${name} on this storage agent`, { volume: name });
    return e;
  }

  private async createVolume(name: string, spec: SourceSpec, size: number | null): Promise<Entry> {
    const source = await this.openSource(name, spec, null);
    try {
      const id = await source.identity();
      if (size !== null && id.sizeBytes !== size) throw new RejectedError('internal', `volume ${name}: the device has ${id.sizeBytes} bytes, ${size} were asked for`);
      const l = await source.lsids();
      const rec: VolumeRecord = {
        version: 1,
        volume: name,
        state: 'sync-ready',
        sizeBytes: id.sizeBytes,
        source: spec,
        deviceUuid: uuidToHex(id.uuid),
        done: { lsid: l.oldest, gid: 0, mergeable: false, timestamp: nowSec() },
        queue: [],
        fullSync: null,
        lastError: '',
      };
      this.store.save(rec);
      this.log.info({ volume: name, kind: spec.kind, size: id.sizeBytes }, 'volume added');
      return this.register(new Volume(rec, source, id, this.store, this.volumeSettings(), componentLogger(this.root, 'storage', { volume: name })));
    } catch (e) {
      await source.close().catch(() => undefined);
      throw e;
    }
  }

  /** Start-up: re-open the device (a WAL device recovers), check continuity, resume. */
  private async openVolume(name: string): Promise<void> {
    const rec = this.store.load(name);
    const source = await this.openSource(name, rec.source, rec);
    const id = await source.identity();
    const e = this.register(new Volume(rec, source, id, this.store, this.volumeSettings(), componentLogger(this.root, 'storage', { volume: name })));
    const vol = e.vol;
    const resetPending = rec.state === 'full-sync' && !rec.fullSync?.uuid;
    if (!resetPending && rec.state !== 'sync-ready') {
      const l = await source.lsids();
      let broken = '';
      if (rec.deviceUuid !== uuidToHex(id.uuid)) broken = `the device uuid changed from ${rec.deviceUuid} to ${uuidToHex(id.uuid)} (log reset outside the agent)`;
      else if (l.oldest > rec.done.lsid) broken = `the log from lsid ${rec.done.lsid} was freed (oldest lsid ${l.oldest})`;
      else if (rec.done.lsid > l.permanent) broken = `the done record (lsid ${rec.done.lsid}) lies beyond the durable log (${l.permanent})`;
      else if (await source.isOverflow()) broken = 'the log overflowed';
      if (broken && vol.state !== 'overflow') {
        this.log.error({ volume: name, reason: broken }, 'log continuity broken');
        vol.transition(['target', 'stopped', 'full-sync'], 'overflow', { lastError: `${broken}: a full backup is needed`, fullSync: null });
      }
    }
    this.log.info({ volume: name, state: vol.state, gid: rec.done.gid, lsid: rec.done.lsid }, 'volume opened');
    if (vol.state === 'target') e.shipper.start();
    else if (vol.state === 'full-sync') this.startFullBackup(e, false);
    else if (vol.state === 'sync-ready') this.startFullBackup(e, rec.source.kind === 'local');
  }

  private async openSource(name: string, spec: SourceSpec, rec: VolumeRecord | null): Promise<LogSource> {
    switch (spec.kind) {
      case 'local': {
        const log = openDeviceFile(spec.logPath);
        let data;
        try {
          data = openDeviceFile(spec.dataPath);
        } catch (err) {
          log.close();
          throw err;
        }
        let device: WalDevice;
        try {
          device = new WalDevice(log, data, { name, overflowPolicy: this.cfg.overflowPolicy, maxPendingBytes: this.cfg.pendingMaxBytes });
        } catch (err) {
          log.close();
          data.close();
          throw err;
        }
        this.provider.add(device);
        const [host] = splitHostPort(this.cfg.nbdListen);
        const port = this.nbdAddr?.kind === 'tcp' ? this.nbdAddr.port : 0;
        return new LocalWalDeviceSource(device, spec, nbdTcpUri(publicHost(host), port, name));
      }
      case 'socket':
        return WalDeviceSocketSource.open(spec);
      case 'walb':
        return WalbLogDeviceSource.open(spec, { oldestLsid: rec?.done.lsid });
    }
  }

  private register(vol: Volume): Entry {
    const shipper = new Shipper(
      vol,
      this.pool,
      this.metrics,
      { retryMinMs: this.cfg.retryMinMs, retryMaxMs: this.cfg.retryMaxMs, snapshotIntervalMs: this.cfg.snapshotIntervalMs, batchMs: SHIP_BATCH_MS },
      componentLogger(this.root, 'storage.ship', { volume: vol.name }),
    );
    const e: Entry = { vol, shipper, backup: null };
    this.volumes.set(vol.name, e);
    return e;
  }

  private startFullBackup(e: Entry, brandNew: boolean): void {
    const task = new FullBackupTask(
      e.vol,
      e.shipper,
      this.peers.archive,
      this.metrics,
      { chunkBytes: this.cfg.fullSyncChunkBytes, bytesPerSec: this.cfg.fullSyncBytesPerSec, retryMinMs: this.cfg.retryMinMs, retryMaxMs: this.cfg.retryMaxMs },
      componentLogger(this.root, 'storage.full', { volume: e.vol.name }),
      brandNew,
    );
    e.backup = task;
    void task.done.then(() => {
      if (e.backup === task) e.backup = null;
    });
  }

  private volumeSettings() {
    return { chunkMaxBytes: this.cfg.chunkMaxBytes, snapshotIntervalMs: this.cfg.snapshotIntervalMs };
  }
}

function splitHostPort(addr: string): [string, number] {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new RejectedError('bad-argument', `bad address "${addr}": expected host:port`);
  return [m[1] ?? (m[2] || '0.0.0.0'), Number(m[3])];
}

/** The host put in NBD URIs: the listen host, or this machine's name for a wildcard. */
function publicHost(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? os.hostname() : host;
}

function absoluteSpec(spec: SourceSpec): SourceSpec {
  switch (spec.kind) {
    case 'local':
      return { ...spec, dataPath: path.resolve(spec.dataPath), logPath: path.resolve(spec.logPath) };
    case 'socket':
      return { ...spec, controlPath: path.resolve(spec.controlPath), logPath: path.resolve(spec.logPath) };
    case 'walb':
      return { ...spec, dataPath: path.resolve(spec.dataPath), logPath: path.resolve(spec.logPath) };
  }
}
