/** Serves the control protocol (protocol.ts) of one WAL device on a unix socket. */
import net from 'node:net';
import fs from 'node:fs';
import { NbdError } from '../nbd/export.js';
import type { WalDevice } from '../device/wal-device.js';
import { CONTROL_OPS, MAX_CONTROL_LINE, type ControlError, type ControlEvent, type ControlRequest, type ControlResponse } from './protocol.js';

export class ControlServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly device: WalDevice,
    readonly path: string,
  ) {
    this.server = net.createServer((s) => this.accept(s));
  }

  static async listen(device: WalDevice, path: string): Promise<ControlServer> {
    const c = new ControlServer(device, path);
    removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      c.server.once('error', reject);
      c.server.listen(path, () => resolve());
    });
    fs.chmodSync(path, 0o600);
    return c;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(s: net.Socket): void {
    this.sockets.add(s);
    let buf = '';
    let unwatch: (() => void) | null = null;
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void this.handle(line, s, (u) => (unwatch = u));
      }
      if (buf.length > MAX_CONTROL_LINE) {
        send(s, { id: -1, ok: false, error: { code: 'EINVAL', message: `request line longer than ${MAX_CONTROL_LINE} bytes` } });
        s.destroy();
      }
    });
    s.on('error', () => s.destroy());
    s.on('close', () => {
      this.sockets.delete(s);
      unwatch?.();
    });
  }

  private async handle(line: string, s: net.Socket, setUnwatch: (u: () => void) => void): Promise<void> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
      if (typeof req !== 'object' || req === null || typeof req.id !== 'number' || !CONTROL_OPS.includes(req.op)) throw new Error('expected {"id": number, "op": one of ' + CONTROL_OPS.join(', ') + '}');
    } catch (e) {
      send(s, { id: -1, ok: false, error: { code: 'EINVAL', message: `bad request: ${(e as Error).message}` } });
      return;
    }
    const d = this.device;
    const args = req.args ?? {};
    try {
      let result: unknown;
      switch (req.op) {
        case 'status':
          result = d.status();
          break;
        case 'lsids':
          result = d.lsids();
          break;
        case 'setOldestLsid':
          await d.setOldestLsid(num(args, 'lsid'));
          result = d.lsids();
          break;
        case 'cut':
          result = { lsid: await d.cut() };
          break;
        case 'freeze':
          d.freeze(args['timeoutMs'] === undefined ? 0 : num(args, 'timeoutMs'));
          result = null;
          break;
        case 'melt':
          d.melt();
          result = null;
          break;
        case 'grow':
          await d.grow(num(args, 'size'));
          result = { size: d.size };
          break;
        case 'resetLog':
          await d.resetLog();
          result = d.status();
          break;
        case 'checkpoint':
          await d.checkpoint(true);
          result = d.lsids();
          break;
        case 'watch': {
          const off = d.onLsids((lsids) => {
            const ev: ControlEvent = { event: 'lsids', lsids, overflow: d.isOverflow };
            send(s, ev);
          });
          setUnwatch(off);
          result = d.lsids();
          break;
        }
      }
      send(s, { id: req.id, ok: true, result });
    } catch (e) {
      send(s, { id: req.id, ok: false, error: toControlError(e) });
    }
  }
}

function num(args: Record<string, unknown>, name: string): number {
  const v = args[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new NbdError(22, `argument ${name} must be a non-negative integer`);
  return v;
}

function toControlError(e: unknown): ControlError {
  if (e instanceof NbdError) return { code: e.nbdErrno === 22 ? 'EINVAL' : e.nbdErrno === 108 ? 'ESHUTDOWN' : 'EIO', message: e.message };
  const code = (e as { code?: string })?.code;
  return { code: typeof code === 'string' ? code : 'EIO', message: e instanceof Error ? e.message : String(e) };
}

function send(s: net.Socket, msg: ControlResponse | ControlEvent): void {
  if (!s.destroyed) s.write(JSON.stringify(msg) + '\n');
}

/** Removes a socket file left by a process that died (refuses to remove anything else). */
export function removeStaleSocket(path: string): void {
  try {
    if (fs.statSync(path).isSocket()) fs.unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
