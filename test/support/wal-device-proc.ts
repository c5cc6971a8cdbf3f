/** Runs `blockwal device serve` as a child process, for tests that kill it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { BLOCKWAL_BIN } from './cli.js';

export interface DeviceProc {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** Starts the device server and waits for its "serving" line. */
export async function startDevice(args: string[], env: NodeJS.ProcessEnv = {}): Promise<DeviceProc> {
  const child = spawn(process.execPath, [BLOCKWAL_BIN, 'device', 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      reject(new Error(`device server exited (${c}) before serving:\n${out}`));
    });
  });
  return { child, output: () => out, exited };
}
