/** Runs a proxy in a child process (tsx, source conditions), for tests that SIGKILL it. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProxyConfig } from '@blockwal/core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

export interface ProxyProc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
}

export async function startProxyProc(cfg: ProxyConfig): Promise<ProxyProc> {
  const child = spawn(process.execPath, ['--conditions=blockwal-source', '--import', 'tsx', path.join(here, 'proxy-child.ts'), JSON.stringify(cfg)], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (out.includes('serving ')) {
        clearInterval(check);
        resolve();
      }
    }, 5);
    void exited.then((c) => {
      clearInterval(check);
      reject(new Error(`proxy exited (${c}) before serving:\n${out}`));
    });
  });
  return { child, output: () => out, exited };
}
