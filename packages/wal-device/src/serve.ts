/**
 * Running a WAL device: open (recovering if needed), serve it over NBD and its control socket,
 * and shut it down cleanly (in-flight requests finished, everything logged, applied, synced and
 * checkpointed).
 */
import { NbdServer, type NbdServerOptions } from './nbd/server.js';
import { StaticExportProvider } from './nbd/static-provider.js';
import type { NbdAddress } from './nbd/server.js';
import { WalDevice, type WalDeviceOptions } from './device/wal-device.js';
import { openDeviceFile } from './device/volatile-file.js';
import { ControlServer } from './control/server.js';
import { defaultControlPath } from './control/protocol.js';

export interface ServeWalDeviceOptions {
  dataPath: string;
  logPath: string;
  /** Export name (default: the name in the super sector, else "vol"). */
  name?: string;
  socketPath?: string;
  host?: string;
  port?: number;
  /** Control socket (default `<log>.ctl`). */
  controlPath?: string;
  device?: WalDeviceOptions;
  nbd?: NbdServerOptions;
}

export class ServedWalDevice {
  constructor(
    readonly device: WalDevice,
    readonly nbd: NbdServer,
    readonly control: ControlServer,
    readonly addresses: NbdAddress[],
  ) {}

  /** NBD URIs of the export (nbd+unix:///NAME?socket=PATH, nbd://HOST:PORT/NAME). */
  get uris(): string[] {
    const name = encodeURIComponent(this.device.name);
    return this.addresses.map((a) => (a.kind === 'unix' ? `nbd+unix:///${name}?socket=${a.socketPath}` : `nbd://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/${name}`));
  }

  async close(): Promise<void> {
    await this.nbd.close();
    await this.control.close();
    await this.device.close();
  }
}

export async function serveWalDevice(o: ServeWalDeviceOptions): Promise<ServedWalDevice> {
  const log = openDeviceFile(o.logPath);
  const data = openDeviceFile(o.dataPath);
  let device: WalDevice;
  try {
    device = new WalDevice(log, data, { ...o.device, name: o.name ?? o.device?.name });
  } catch (e) {
    log.close();
    data.close();
    throw e;
  }
  const nbd = new NbdServer(new StaticExportProvider([device]), o.nbd);
  const addresses: NbdAddress[] = [];
  try {
    if (o.socketPath !== undefined) addresses.push(await nbd.listen({ socketPath: o.socketPath }));
    if (o.port !== undefined) addresses.push(await nbd.listen({ host: o.host ?? '127.0.0.1', port: o.port }));
    const control = await ControlServer.listen(device, o.controlPath ?? defaultControlPath(o.logPath));
    return new ServedWalDevice(device, nbd, control, addresses);
  } catch (e) {
    await nbd.close();
    await device.close();
    throw e;
  }
}
