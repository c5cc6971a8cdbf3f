/** NBD URIs (the NBD URI spec): nbd://HOST:PORT/EXPORT and nbd+unix:///EXPORT?socket=PATH. */
import { UsageError } from '@blockwal/core';

export type NbdTarget = { where: { host: string; port: number } | { socketPath: string }; name: string };

export function nbdTcpUri(host: string, port: number, exportName: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `nbd://${h}:${port}/${encodeURIComponent(exportName)}`;
}

export function parseNbdUri(uri: string): NbdTarget {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new UsageError(`bad NBD URI "${uri}": expected nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH`);
  }
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.protocol === 'nbd:') {
    return { where: { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 10809 }, name };
  }
  if (u.protocol === 'nbd+unix:') {
    const socketPath = u.searchParams.get('socket');
    if (!socketPath) throw new UsageError(`bad NBD URI "${uri}": nbd+unix needs ?socket=PATH`);
    return { where: { socketPath }, name };
  }
  throw new UsageError(`bad NBD URI "${uri}": scheme ${u.protocol} is not nbd: or nbd+unix:`);
}
