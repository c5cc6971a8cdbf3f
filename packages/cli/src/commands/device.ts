/**
 * blockwal device create --data FILE --log FILE --size BYTES [--log-size BYTES] [--pbs 512|4096] [--name NAME]
 * blockwal device serve  --data FILE --log FILE [--name VOL] (--socket PATH | --listen HOST:PORT) [--control PATH]
 *                        [--overflow-policy overflow|block] [--block-timeout-ms MS] [--writeback SIZE]
 * blockwal device status --log FILE [--control PATH] [--json]
 */
import { existsSync } from 'node:fs';
import { UsageError, uuidToHex } from '@blockwal/core';
import { WalDeviceControl, createWalDevice, defaultControlPath, offlineStatus, serveWalDevice, type OverflowPolicy } from '@blockwal/wal-device';
import { flag, parse, parseSize, parseUint, positionals, str } from '../args.js';
import { json, out } from '../output.js';

export const usage = [
  'blockwal device create --data FILE --log FILE --size BYTES [--log-size BYTES] [--pbs 512|4096] [--name NAME]',
  'blockwal device serve --data FILE --log FILE [--name VOL] (--socket PATH | --listen HOST:PORT) [--control PATH] [--overflow-policy overflow|block] [--block-timeout-ms MS] [--writeback SIZE]',
  'blockwal device status --log FILE [--control PATH] [--json]',
].join('\n');

export function run(argv: string[]): number | Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create':
      return create(rest);
    case 'serve':
      return serve(rest);
    case 'status':
      return status(rest);
    default:
      throw new UsageError(`${sub === undefined ? 'missing device subcommand' : `unknown device subcommand "${sub}"`}\nusage: ${usage}`);
  }
}

function required(p: ReturnType<typeof parse>, name: string, u: string): string {
  const v = str(p, name);
  if (v === undefined) throw new UsageError(`missing --${name}\nusage: ${u}`);
  return v;
}

function create(argv: string[]): number {
  const u = usage.split('\n')[0]!;
  const p = parse(argv, { data: { type: 'string' }, log: { type: 'string' }, size: { type: 'string' }, 'log-size': { type: 'string' }, pbs: { type: 'string' }, name: { type: 'string' } }, u);
  positionals(p, [], u);
  const s = createWalDevice({
    dataPath: required(p, 'data', u),
    logPath: required(p, 'log', u),
    size: parseSize(required(p, 'size', u), 'size'),
    logSize: str(p, 'log-size') !== undefined ? parseSize(str(p, 'log-size')!, 'log size') : undefined,
    pbs: str(p, 'pbs') !== undefined ? parseUint(str(p, 'pbs')!, 'pbs') : undefined,
    name: str(p, 'name'),
  });
  out(`created WAL device: ${s.deviceSize * 512} bytes, log ring ${s.ringBufferSize} pb of ${s.pbs} bytes, uuid ${uuidToHex(s.uuid)}`);
  return 0;
}

async function serve(argv: string[]): Promise<number> {
  const u = usage.split('\n')[1]!;
  const p = parse(
    argv,
    {
      data: { type: 'string' },
      log: { type: 'string' },
      name: { type: 'string' },
      socket: { type: 'string' },
      listen: { type: 'string' },
      control: { type: 'string' },
      'overflow-policy': { type: 'string' },
      'block-timeout-ms': { type: 'string' },
      writeback: { type: 'string' },
    },
    u,
  );
  positionals(p, [], u);
  const socketPath = str(p, 'socket');
  const listen = str(p, 'listen');
  if (socketPath === undefined && listen === undefined) throw new UsageError(`give --socket PATH or --listen HOST:PORT\nusage: ${u}`);
  let host: string | undefined;
  let port: number | undefined;
  if (listen !== undefined) {
    const m = /^(.*):(\d+)$/.exec(listen);
    if (!m) throw new UsageError(`invalid --listen "${listen}": HOST:PORT`);
    host = m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    port = parseUint(m[2]!, 'port', 65535);
  }
  const policy = str(p, 'overflow-policy') ?? 'overflow';
  if (policy !== 'overflow' && policy !== 'block') throw new UsageError(`invalid --overflow-policy "${policy}": overflow or block`);
  const served = await serveWalDevice({
    dataPath: required(p, 'data', u),
    logPath: required(p, 'log', u),
    name: str(p, 'name'),
    socketPath,
    host,
    port,
    controlPath: str(p, 'control'),
    device: {
      overflowPolicy: policy as OverflowPolicy,
      blockTimeoutMs: str(p, 'block-timeout-ms') !== undefined ? parseUint(str(p, 'block-timeout-ms')!, 'block timeout') : undefined,
      writebackBytes: str(p, 'writeback') !== undefined ? parseSize(str(p, 'writeback')!, 'writeback') : undefined,
    },
  });
  const r = served.device.recovery;
  if (r.packsRedone > 0 || r.staleInvalidated > 0) out(`recovered: ${r.packsRedone} logpacks redone (${r.bytesRedone} bytes), ${r.staleInvalidated} stale packs invalidated, log ends at lsid ${r.endLsid}`);
  out(`serving ${served.device.name} (${served.device.size} bytes) on ${served.uris.join(' and ')}; control ${served.control.path}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await served.close();
  out(`stopped ${served.device.name}: flushed and checkpointed`);
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const u = usage.split('\n')[2]!;
  const p = parse(argv, { log: { type: 'string' }, control: { type: 'string' }, json: { type: 'boolean' } }, u);
  positionals(p, [], u);
  const log = required(p, 'log', u);
  const ctl = str(p, 'control') ?? defaultControlPath(log);
  if (existsSync(ctl)) {
    try {
      const c = await WalDeviceControl.connect(ctl);
      const s = await c.status();
      c.close();
      if (flag(p, 'json')) json({ running: true, ...s });
      else {
        const l = s.lsids;
        out(`${s.name}: running, ${s.sizeBytes} bytes, pbs ${s.pbs}, uuid ${s.uuid}`);
        out(`lsids: oldest ${l.oldest}, written ${l.written}, applied ${l.applied}, permanent ${l.permanent}, completed ${l.completed}, latest ${l.latest}`);
        out(`log usage ${s.logUsagePb} of ${s.logCapacityPb} pb${s.overflow ? ' (OVERFLOW)' : ''}${s.frozen ? ', frozen' : ''}; time to overflow ${s.timeToOverflowSec === null ? 'n/a (idle)' : `${s.timeToOverflowSec.toFixed(0)} s`}`);
      }
      return 0;
    } catch {
      // not running (a stale socket): fall back to reading the files
    }
  }
  const s = offlineStatus(log);
  if (flag(p, 'json')) json({ running: false, ...s });
  else {
    out(`${s.name || '(unnamed)'}: not running, ${s.deviceSizeBytes} bytes, pbs ${s.pbs}, uuid ${s.uuid}`);
    out(`lsids: oldest ${s.oldestLsid}, written ${s.writtenLsid}, end of log ${s.endLsid}; ${s.clean ? 'clean' : 'needs recovery (redo from the checkpoint)'}`);
    out(`log usage ${s.logUsagePb} of ${s.ringBufferSize} pb${s.overflow ? ' (OVERFLOW)' : ''}; ${s.packs.packs} logpacks`);
  }
  return 0;
}
