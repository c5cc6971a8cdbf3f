/** Runs the real `blockwal` command (the built entry point) as a child process. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './vectors.js';

export const BLOCKWAL_BIN = path.join(REPO_ROOT, 'packages', 'cli', 'bin', 'blockwal.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export function blockwal(args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BLOCKWAL_BIN, ...args], {
    input: opts.input,
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    maxBuffer: 1 << 30,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), stdoutBytes: r.stdout };
}
