/**
 * Test peers of the storage agent: a real gRPC ProxyService and ArchiveService, small and strict.
 *
 * TestProxy checks every pushed wlog as it arrives (chunk CRCs, stream CRC, then core's
 * WlogDecoder: every logpack and record checksum, salt/uuid/pbs against the header, lsids from
 * begin to end), keeps it in a file and records it in the shared TestLedger. It can be told to
 * refuse with a reason (up front, before reading the stream) or be taken down and up again.
 *
 * TestArchive takes FullSync into an image file (resumable: the progress of a uuid and size is
 * kept across dropped connections; it can drop a connection on purpose), and answers
 * ListSnapshots from the base and the wlogs the proxies stored (restorable = clean states on the
 * chain of diffs from the base). TestLedger.imageAt(gid) builds the image of a snapshot: the base
 * with the wlogs of the chain applied, in log order.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { LOGICAL_BLOCK_SIZE, LogRecordKind, RejectedError, WlogDecoder, uuidToHex, type RejectReason } from '@blockwal/core';
import {
  type TlsFiles,
  ArchiveServiceDefinition,
  ChunkVerifier,
  ProxyServiceDefinition,
  bindServer,
  blockwal,
  createServer,
  diffFromWire,
  reasonToWire,
  toServiceError,
  uuidFromWire,
  type ArchiveServiceHandlers,
  type ProxyServiceHandlers,
} from '@blockwal/proto';
import { addHealth } from '@blockwal/proto/health';

import v1 = blockwal.v1;

export interface StoredWlog {
  proxy: string;
  uuid: string;
  gidB: number;
  gidE: number;
  mergeable: boolean;
  timestamp: number;
  beginLsid: number;
  endLsid: number;
  file: string;
  bytes: number;
}

export interface BaseImage {
  uuid: string;
  gidB: number;
  gidE: number;
  size: number;
  file: string;
}

/** What the proxies stored and what the archive holds, shared by the peers of one test. */
export class TestLedger {
  readonly wlogs: StoredWlog[] = [];
  base: BaseImage | null = null;
  private n = 0;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  nextFile(prefix: string): string {
    return path.join(this.dir, `${prefix}-${++this.n}`);
  }

  /** The diffs of the chain from the base: at each gid the one reaching furthest. */
  chain(): StoredWlog[] {
    const b = this.base;
    if (!b) return [];
    const out: StoredWlog[] = [];
    let g = b.gidB;
    for (;;) {
      const next = this.wlogs.filter((w) => w.uuid === b.uuid && w.gidB === g).sort((x, y) => y.gidE - x.gidE)[0];
      if (!next) return out;
      out.push(next);
      g = next.gidE;
    }
  }

  /** Restorable snapshots (clean states reached on the chain), as the archive lists them. */
  restorable(all: boolean): { gid: number; timestamp: number; explicit: boolean }[] {
    const b = this.base;
    if (!b) return [];
    const chain = this.chain();
    const out: { gid: number; timestamp: number; explicit: boolean }[] = [];
    if (b.gidB === b.gidE) out.push({ gid: b.gidB, timestamp: 0, explicit: chain.length === 0 || !chain[0]!.mergeable });
    chain.forEach((d, i) => {
      if (d.gidE < b.gidE) return;
      const explicit = i === chain.length - 1 || !chain[i + 1]!.mergeable;
      out.push({ gid: d.gidE, timestamp: d.timestamp, explicit });
    });
    return all ? out : out.filter((s) => s.explicit);
  }

  /** Writes the image of snapshot gid to `out`: the base, then the chain's wlogs up to gid. */
  imageAt(gid: number, out: string): void {
    const b = this.base;
    if (!b) throw new Error('no base image yet');
    if (gid < b.gidE) throw new Error(`gid ${gid} is below the base's end ${b.gidE}: not restorable`);
    fs.copyFileSync(b.file, out);
    let g = b.gidB;
    const fd = fs.openSync(out, 'r+');
    try {
      for (const d of this.chain()) {
        if (g === gid) break;
        applyWlog(d.file, fd);
        g = d.gidE;
      }
    } finally {
      fs.closeSync(fd);
    }
    if (g !== gid) throw new Error(`gid ${gid} is not on the chain (reached ${g}; chain ${this.chain().map((d) => `${d.gidB}->${d.gidE}`).join(' ')})`);
  }
}

/** Applies a wlog file's records to an image, in log order. */
export function applyWlog(file: string, fd: number): void {
  const dec = new WlogDecoder(
    {
      record(_p, _i, r, data) {
        if (r.kind === LogRecordKind.Normal) fs.writeSync(fd, data!, 0, r.ioSize * LOGICAL_BLOCK_SIZE, r.offset * LOGICAL_BLOCK_SIZE);
        else if (r.kind === LogRecordKind.Discard) fs.writeSync(fd, Buffer.alloc(r.ioSize * LOGICAL_BLOCK_SIZE), 0, r.ioSize * LOGICAL_BLOCK_SIZE, r.offset * LOGICAL_BLOCK_SIZE);
      },
    },
    file,
  );
  dec.push(fs.readFileSync(file));
  dec.end();
}

type ProxyMode = { kind: 'ok' } | { kind: 'refuse'; reason: RejectReason; times: number };

export class TestProxy {
  mode: ProxyMode = { kind: 'ok' };
  /** Wlogs refused and accepted by this proxy. */
  refused = 0;
  accepted = 0;
  private server: grpc.Server | null = null;

  private constructor(
    readonly name: string,
    readonly socketPath: string,
    private readonly ledger: TestLedger,
    private readonly tls?: TlsFiles,
  ) {}

  static async start(name: string, socketPath: string, ledger: TestLedger, tls?: TlsFiles): Promise<TestProxy> {
    const p = new TestProxy(name, socketPath, ledger, tls);
    await p.up();
    return p;
  }

  get address(): string {
    return `unix:${this.socketPath}`;
  }

  get stored(): StoredWlog[] {
    return this.ledger.wlogs.filter((w) => w.proxy === this.name);
  }

  refuse(reason: RejectReason, times = Number.POSITIVE_INFINITY): void {
    this.mode = { kind: 'refuse', reason, times };
  }

  accept(): void {
    this.mode = { kind: 'ok' };
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer();
    const handlers: ProxyServiceHandlers = {
      pushWlog: (call, cb) => void this.pushWlog(call).then((r) => cb(null, r), (e: unknown) => cb(toServiceError(e))),
      getProxyStatus: (_call, cb) => cb(null, { volumes: [] }),
    };
    server.addService(ProxyServiceDefinition as unknown as grpc.ServiceDefinition, handlers);
    addHealth(server, ['blockwal.v1.ProxyService']);
    fs.rmSync(this.socketPath, { force: true });
    await bindServer(server, this.address, this.tls);
    this.server = server;
  }

  /** Down: the socket is closed and calls fail (UNAVAILABLE). */
  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) s.forceShutdown();
    fs.rmSync(this.socketPath, { force: true });
  }

  private async pushWlog(call: grpc.ServerReadableStream<v1.PushWlogRequest, v1.IPushWlogResponse>): Promise<v1.IPushWlogResponse> {
    let header: v1.IPushWlogHeader | null = null;
    const verifier = new ChunkVerifier('wlog');
    let dec: WlogDecoder | null = null;
    let file = '';
    let fd = -1;
    let ended = false;
    try {
      for await (const m of call as AsyncIterable<v1.PushWlogRequest>) {
        if (m.header) {
          header = m.header;
          if (this.mode.kind === 'refuse' && this.mode.times > 0) {
            this.mode.times--;
            this.refused++;
            const reason = this.mode.reason;
            if (this.mode.times <= 0) this.mode = { kind: 'ok' };
            return { reason: reasonToWire(reason), message: `test proxy ${this.name} refuses: ${reason}` };
          }
          file = this.ledger.nextFile(`${this.name}.wlog`);
          fd = fs.openSync(file, 'w');
          const uuid = uuidToHex(uuidFromWire(header.deviceUuid));
          dec = new WlogDecoder({
            header(h) {
              if (uuidToHex(h.uuid) !== uuid || h.salt !== header!.salt || h.pbs !== header!.pbs || h.beginLsid !== Number(header!.beginLsid)) {
                throw new RejectedError('bad-argument', 'wlog header does not match the PushWlog header');
              }
            },
            record() {},
          });
        } else if (m.chunk) {
          if (!dec) throw new RejectedError('bad-argument', 'chunk before the header');
          const data = verifier.accept(m.chunk);
          dec.push(data);
          fs.writeSync(fd, data);
        } else if (m.end) {
          if (!dec) throw new RejectedError('bad-argument', 'end before the header');
          verifier.end(m.end);
          dec.end();
          ended = true;
        }
      }
      if (!header || !dec || !ended) throw new RejectedError('bad-argument', 'incomplete wlog stream');
      if (dec.endLsid !== Number(header.endLsid)) throw new RejectedError('bad-argument', `wlog ends at lsid ${dec.endLsid}, the header says ${header.endLsid}`);
      fs.fdatasyncSync(fd);
      const d = diffFromWire(header.diff);
      this.ledger.wlogs.push({
        proxy: this.name,
        uuid: uuidToHex(uuidFromWire(header.deviceUuid)),
        gidB: d.snapB.gidB,
        gidE: d.snapE.gidB,
        mergeable: d.isMergeable,
        timestamp: d.timestamp,
        beginLsid: Number(header.beginLsid),
        endLsid: Number(header.endLsid),
        file,
        bytes: verifier.length,
      });
      this.accepted++;
      return { reason: v1.Reason.REASON_OK, wdiffName: `${d.snapB.gidB}-${d.snapE.gidB}.wdiff` };
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }
}

interface SyncProgress {
  uuid: string;
  size: number;
  file: string;
  offset: number;
}

export class TestArchive {
  /** Drop the next FullSync connection once this many bytes were received (once). */
  dropAfterBytes: number | null = null;
  drops = 0;
  fullSyncs = 0;
  /** Data messages received with empty data (elided zero chunks). */
  zeroChunks = 0;
  /** The resume offset answered to each FullSync header. */
  readonly resumeOffsets: number[] = [];
  private progress: SyncProgress | null = null;
  private server: grpc.Server | null = null;

  private constructor(
    readonly name: string,
    readonly socketPath: string,
    private readonly ledger: TestLedger,
  ) {}

  static async start(name: string, socketPath: string, ledger: TestLedger, tls?: TlsFiles): Promise<TestArchive> {
    const a = new TestArchive(name, socketPath, ledger);
    const server = createServer();
    const handlers: ArchiveServiceHandlers = {
      fullSync: (call) => void a.fullSync(call),
      listSnapshots: (call, cb) => cb(null, { snapshots: ledger.restorable(call.request.all) }),
      pushDiff: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'not in the test archive' }),
      readSnapshot: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'not in the test archive' }),
      restoreSnapshot: (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the test archive' }),
      listArchiveVolumes: (_c, cb) => cb(null, { volumes: [] }),
    };
    server.addService(ArchiveServiceDefinition as unknown as grpc.ServiceDefinition, handlers);
    addHealth(server, ['blockwal.v1.ArchiveService']);
    fs.rmSync(socketPath, { force: true });
    await bindServer(server, `unix:${socketPath}`, tls);
    a.server = server;
    return a;
  }

  get address(): string {
    return `unix:${this.socketPath}`;
  }

  close(): void {
    this.server?.forceShutdown();
    this.server = null;
  }

  private async fullSync(call: grpc.ServerDuplexStream<v1.FullSyncRequest, v1.IFullSyncResponse>): Promise<void> {
    this.fullSyncs++;
    let p: SyncProgress | null = null;
    let fd = -1;
    try {
      for await (const m of call as AsyncIterable<v1.FullSyncRequest>) {
        if (m.header) {
          const uuid = uuidToHex(uuidFromWire(m.header.deviceUuid));
          const size = Number(m.header.volumeSize);
          if (!this.progress || this.progress.uuid !== uuid || this.progress.size !== size) {
            const file = this.ledger.nextFile('base.tmp');
            fs.writeFileSync(file, '');
            fs.truncateSync(file, size);
            this.progress = { uuid, size, file, offset: 0 };
          }
          p = this.progress;
          fd = fs.openSync(p.file, 'r+');
          this.resumeOffsets.push(p.offset);
          call.write({ reason: v1.Reason.REASON_OK, resumeOffset: p.offset });
        } else if (m.data) {
          if (!p) throw new RejectedError('bad-argument', 'data before the header');
          const data = m.data.data ?? new Uint8Array(0);
          if (crc32(data) !== m.data.crc32) throw new RejectedError('checksum', `data at ${m.data.offset}: bad CRC`);
          const off = Number(m.data.offset);
          if (off !== p.offset) throw new RejectedError('bad-argument', `data at ${off}, expected ${p.offset}`);
          const len = m.data.length ?? 0;
          if (data.length === 0) {
            this.zeroChunks++;
            fs.writeSync(fd, Buffer.alloc(len), 0, len, off);
          } else {
            if (data.length !== len) throw new RejectedError('bad-argument', 'length mismatch');
            fs.writeSync(fd, data, 0, len, off);
          }
          p.offset = off + len;
          if (this.dropAfterBytes !== null && p.offset >= this.dropAfterBytes) {
            this.dropAfterBytes = null;
            this.drops++;
            fs.fdatasyncSync(fd);
            call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'test archive drops the connection' });
            return;
          }
        } else if (m.done) {
          if (!p || p.offset !== p.size) throw new RejectedError('bad-argument', `done before the whole image was sent (${p?.offset} of ${p?.size})`);
          fs.fdatasyncSync(fd);
          const gidB = Number(m.done.snapshot?.gidB ?? 0);
          const gidE = Number(m.done.snapshot?.gidE ?? 0);
          const file = this.ledger.nextFile('base');
          fs.renameSync(p.file, file);
          this.ledger.base = { uuid: p.uuid, gidB, gidE, size: p.size, file };
          this.progress = null;
          call.write({ reason: v1.Reason.REASON_OK, done: true });
          call.end();
          return;
        }
      }
    } catch (e) {
      call.emit('error', toServiceError(e));
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }
}
