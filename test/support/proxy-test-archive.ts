/**
 * A small but faithful ArchiveService for proxy tests (the real archive lives in
 * packages/archive): PushDiff gives its verdict from the real algebra (getRelation against the
 * volume's latest snapshot), receives the sorted wdiff through a ChunkVerifier, verifies the file
 * by reading every record with openWdiff, renames it into place and answers stored. It can be
 * told to refuse with a given reason, to fail after the data, or to be down.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  DiffKind,
  RejectedError,
  WDIFF_TYPE_SORTED,
  apply,
  formatWdiffName,
  getRelation,
  openWdiff,
  reasonOf,
  uuidToHex,
  type MetaDiff,
  type MetaSnap,
  type RejectReason,
} from '@blockwal/core';
import { ArchiveServiceDefinition, ChunkVerifier, blockwal, createServer, diffFromWire, reasonToWire, snapToWire, type ArchiveServiceHandlers } from '@blockwal/proto';

import v1 = blockwal.v1;

export interface StoredDiff {
  diff: MetaDiff;
  file: string;
  bytes: number;
}

interface Volume {
  name: string;
  uuid: string;
  latest: MetaSnap;
  syncing: boolean;
  busy: boolean;
  stored: StoredDiff[];
}

interface Refusal {
  reason: RejectReason;
  left: number;
}

export class TestArchive {
  private server: grpc.Server | null = null;
  private readonly volumes = new Map<string, Volume>();
  private refusal: Refusal | null = null;
  private failAfterData: Refusal | null = null;
  /** Every verdict given, in order (reason names; 'ok' for accepted). */
  readonly verdicts: string[] = [];
  /** Times of the verdicts (ms), for backoff checks. */
  readonly verdictTimes: number[] = [];
  private seq = 0;

  private constructor(
    readonly dir: string,
    readonly address: string,
  ) {}

  static async start(dir: string, name = 'a'): Promise<TestArchive> {
    mkdirSync(dir, { recursive: true });
    const a = new TestArchive(dir, `unix:${path.join(dir, `${name}.sock`)}`);
    await a.up();
    return a;
  }

  addVolume(volume: string, uuid: Uint8Array, latest: MetaSnap | number = 0): void {
    const snap = typeof latest === 'number' ? { gidB: latest, gidE: latest } : latest;
    this.volumes.set(volume, { name: volume, uuid: uuidToHex(uuid), latest: snap, syncing: false, busy: false, stored: [] });
    mkdirSync(path.join(this.dir, volume), { recursive: true });
  }

  /** A new lineage at the archive (as after a full backup). */
  resetVolume(volume: string, uuid: Uint8Array, latest: MetaSnap | number): void {
    const v = this.vol(volume);
    v.uuid = uuidToHex(uuid);
    v.latest = typeof latest === 'number' ? { gidB: latest, gidE: latest } : latest;
  }

  setSyncing(volume: string, on: boolean): void {
    this.vol(volume).syncing = on;
  }

  /** Answers `reason` as the verdict of the next `times` pushes. */
  refuse(reason: RejectReason, times = Infinity): void {
    this.refusal = { reason, left: times };
  }

  /** Answers `reason` after receiving the data of the next `times` pushes (instead of storing). */
  refuseAfterData(reason: RejectReason, times = 1): void {
    this.failAfterData = { reason, left: times };
  }

  accept(): void {
    this.refusal = null;
    this.failAfterData = null;
  }

  latest(volume: string): MetaSnap {
    return this.vol(volume).latest;
  }

  stored(volume: string): StoredDiff[] {
    return [...this.vol(volume).stored];
  }

  get isUp(): boolean {
    return this.server !== null;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer();
    server.addService(ArchiveServiceDefinition, this.handlers());
    await new Promise<void>((resolve, reject) => server.bindAsync(this.address, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    s?.forceShutdown();
    rmSync(this.address.slice('unix:'.length), { force: true });
  }

  async close(): Promise<void> {
    await this.down();
  }

  private vol(volume: string): Volume {
    const v = this.volumes.get(volume);
    if (!v) throw new Error(`test archive: no volume ${volume}`);
    return v;
  }

  private handlers(): ArchiveServiceHandlers {
    const unimplemented = (_call: unknown, cb?: unknown) => {
      const err = { code: grpc.status.UNIMPLEMENTED, details: 'test archive' };
      if (typeof cb === 'function') (cb as (e: unknown) => void)(err);
      else (_call as { destroy(e: unknown): void }).destroy(err);
    };
    return {
      pushDiff: (call) => this.pushDiff(call),
      fullSync: unimplemented,
      readSnapshot: unimplemented,
      restoreSnapshot: unimplemented,
      listSnapshots: unimplemented,
      listArchiveVolumes: unimplemented,
    };
  }

  private pushDiff(call: grpc.ServerDuplexStream<v1.PushDiffRequest, v1.IPushDiffResponse>): void {
    let v: Volume | null = null;
    let diff: MetaDiff | null = null;
    let verifier: ChunkVerifier | null = null;
    let fd = -1;
    let tmp = '';
    let owned = false;
    let finished = false;
    const finish = (reason: RejectReason | 'ok', message = '', stored = false) => {
      if (finished) return;
      finished = true;
      if (fd >= 0) closeSync(fd);
      fd = -1;
      if (tmp) rmSync(tmp, { force: true });
      if (v && owned) v.busy = false;
      owned = false;
      call.write({ reason: reason === 'ok' ? v1.Reason.REASON_OK : reasonToWire(reason), message, stored, latest: v ? snapToWire(v.latest) : null });
      call.end();
      v = null;
    };
    const verdict = (h: v1.IPushDiffHeader): RejectReason | 'ok' => {
      diff = diffFromWire(h.diff);
      v = null;
      if (this.refusal && this.refusal.left > 0) {
        this.refusal.left--;
        return this.refusal.reason;
      }
      const vol = this.volumes.get(h.volume ?? '');
      if (!vol) return 'not-found';
      if (vol.syncing) return 'syncing';
      if (uuidToHex(h.deviceUuid ?? new Uint8Array(16)) !== vol.uuid) return 'different-uuid';
      if (vol.busy) return 'busy';
      const rel = getRelation(vol.latest, diff);
      if (rel === 'too-old' || rel === 'too-new') {
        v = vol; // for `latest` in the answer
        return rel;
      }
      if (rel !== 'applicable') return 'bad-argument';
      return 'ok';
    };
    call.on('data', (m: v1.PushDiffRequest) => {
      try {
        if (m.header) {
          const r = verdict(m.header);
          this.verdicts.push(r);
          this.verdictTimes.push(Date.now());
          if (r !== 'ok') return finish(r, `test archive: ${r}`);
          v = this.volumes.get(m.header.volume!)!;
          v.busy = true;
          owned = true;
          verifier = new ChunkVerifier('test archive wdiff');
          tmp = path.join(this.dir, `${m.header.volume}.${++this.seq}.tmp`);
          fd = openSync(tmp, 'w');
          call.write({ reason: v1.Reason.REASON_OK });
        } else if (m.chunk) {
          const data = verifier!.accept(m.chunk);
          writeSync(fd, data);
        } else if (m.end) {
          verifier!.end(m.end);
          closeSync(fd);
          fd = -1;
          if (this.failAfterData && this.failAfterData.left > 0) {
            this.failAfterData.left--;
            return finish(this.failAfterData.reason, 'test archive: refused after data');
          }
          const vol = v!;
          const bytes = verifyWdiff(tmp, vol.uuid);
          const file = path.join(this.dir, vol.name, `${String(vol.stored.length).padStart(4, '0')}-${formatWdiffName(diff!)}`);
          renameSync(tmp, file);
          tmp = '';
          vol.stored.push({ diff: diff!, file, bytes });
          vol.latest = apply(vol.latest, diff!);
          finish('ok', '', true);
        }
      } catch (e) {
        finish(reasonOf(e), (e as Error).message);
      }
    });
    call.on('error', () => {
      try {
        finish('internal');
      } catch {
        /* the call is gone */
      }
    });
    call.on('cancelled', () => {
      if (fd >= 0) closeSync(fd);
      fd = -1;
      if (tmp) rmSync(tmp, { force: true });
      if (v && owned) v.busy = false;
      owned = false;
    });
  }
}

/** Reads every record of a sorted wdiff (all checksums) and checks its uuid; returns its size. */
function verifyWdiff(file: string, uuid: string): number {
  const src = openWdiff(file);
  try {
    if (src.type !== WDIFF_TYPE_SORTED) throw new RejectedError('bad-argument', 'test archive: not a sorted wdiff');
    if (uuidToHex(src.header.uuid) !== uuid) throw new RejectedError('different-uuid', 'test archive: wdiff header uuid differs');
    for (let r = src.next(); r !== null; r = src.next()) if (r.kind === DiffKind.Normal) src.readData(r);
    return src.progressBytes;
  } finally {
    src.close();
  }
}
