/**
 * Client of a running WAL device's control socket (protocol.ts): what the storage agent uses to
 * read the lsids, free the ring, cut snapshots and watch for new durable log.
 */
import net from 'node:net';
import { BlockwalError } from '@blockwal/core';
import type { DeviceLsids, DeviceStatus } from '../device/wal-device.js';
import type { ControlEvent, ControlOp, ControlOps, ControlResponse } from './protocol.js';

export class ControlClientError extends BlockwalError {
  constructor(
    readonly errorCode: string,
    what: string,
    file?: string,
  ) {
    super(errorCode === 'EINVAL' ? 'INVALID_ARGUMENT' : 'IO_ERROR', what, file ? { file } : {}, { retryable: errorCode !== 'EINVAL' });
  }
}

export class WalDeviceControl {
  private nextId = 1;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private readonly watchers = new Set<(e: ControlEvent) => void>();
  private buf = '';

  private constructor(
    private readonly socket: net.Socket,
    readonly path: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    const failAll = (e: unknown) => {
      for (const c of this.calls.values()) c.reject(e);
      this.calls.clear();
    };
    socket.on('error', (e) => failAll(new ControlClientError('EIO', `control socket: ${e.message}`, path)));
    socket.on('close', () => failAll(new ControlClientError('ESHUTDOWN', 'control socket closed', path)));
  }

  static connect(path: string): Promise<WalDeviceControl> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path);
      s.once('connect', () => resolve(new WalDeviceControl(s, path)));
      s.once('error', (e) => reject(new ControlClientError('EIO', `cannot connect to the WAL device control socket: ${e.message}`, path)));
    });
  }

  close(): void {
    this.socket.end();
  }

  status(): Promise<DeviceStatus> {
    return this.call('status', {});
  }

  lsids(): Promise<DeviceLsids> {
    return this.call('lsids', {});
  }

  setOldestLsid(lsid: number): Promise<DeviceLsids> {
    return this.call('setOldestLsid', { lsid });
  }

  async cut(): Promise<number> {
    return (await this.call('cut', {})).lsid;
  }

  freeze(timeoutMs = 0): Promise<null> {
    return this.call('freeze', { timeoutMs });
  }

  melt(): Promise<null> {
    return this.call('melt', {});
  }

  grow(size: number): Promise<{ size: number }> {
    return this.call('grow', { size });
  }

  resetLog(): Promise<DeviceStatus> {
    return this.call('resetLog', {});
  }

  checkpoint(): Promise<DeviceLsids> {
    return this.call('checkpoint', {});
  }

  /** Subscribes to lsid changes (durable log grew, overflow); returns the current lsids. */
  watch(fn: (e: ControlEvent) => void): Promise<DeviceLsids> {
    this.watchers.add(fn);
    return this.call('watch', {});
  }

  private call<K extends ControlOp>(op: K, args: ControlOps[K]['args']): Promise<ControlOps[K]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ id, op, args }) + '\n');
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) return;
      const msg = JSON.parse(this.buf.slice(0, nl)) as ControlResponse | ControlEvent;
      this.buf = this.buf.slice(nl + 1);
      if ('event' in msg) {
        for (const w of this.watchers) w(msg);
        continue;
      }
      const c = this.calls.get(msg.id);
      if (!c) continue;
      this.calls.delete(msg.id);
      if (msg.ok) c.resolve(msg.result);
      else c.reject(new ControlClientError(msg.error.code, msg.error.message, this.path));
    }
  }
}
