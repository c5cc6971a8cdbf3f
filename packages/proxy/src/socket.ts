/**
 * A unix socket file left by a process that died (SIGKILL) makes bind fail with EADDRINUSE.
 * It is removed only when nothing answers on it, so a second proxy still cannot steal the address
 * of a live one.
 */
import { lstatSync, rmSync } from 'node:fs';
import net from 'node:net';

export async function removeStaleSocket(address: string): Promise<void> {
  if (!address.startsWith('unix:')) return;
  const file = address.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
  try {
    if (!lstatSync(file).isSocket()) return;
  } catch {
    return; // no such file
  }
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'));
  });
  if (!live) rmSync(file, { force: true });
}
