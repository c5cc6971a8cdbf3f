/**
 * Test fixture: an NbdServer over memory exports on a temporary unix socket (and TCP), plus
 * helpers to run the NBD command line tools without blocking the event loop (the server under
 * test runs in the same process).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NbdExport } from '../../src/nbd/export.js';
import { MemoryExport, type MemoryExportOptions } from '../../src/nbd/memory-export.js';
import { NbdServer, type NbdServerOptions } from '../../src/nbd/server.js';
import { StaticExportProvider } from '../../src/nbd/static-provider.js';
import { RawNbdClient, type Endpoint } from './nbd-raw-client.js';

export interface Fixture {
  server: NbdServer;
  provider: StaticExportProvider;
  dir: string;
  socketPath: string;
  tcp: { host: string; port: number };
  unixUri(name: string): string;
  tcpUri(name: string): string;
  stop(): Promise<void>;
}

export async function startFixture(exports: NbdExport[], opts: NbdServerOptions & { tcp?: boolean } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'blockwal-nbd-'));
  const socketPath = join(dir, 'nbd.sock');
  const provider = new StaticExportProvider(exports);
  const server = new NbdServer(provider, opts);
  await server.listen({ socketPath });
  let tcp = { host: '127.0.0.1', port: 0 };
  if (opts.tcp !== false) {
    const a = await server.listen({ host: '127.0.0.1', port: 0 });
    if (a.kind === 'tcp') tcp = { host: a.host, port: a.port };
  }
  return {
    server,
    provider,
    dir,
    socketPath,
    tcp,
    unixUri: (name) => `nbd+unix:///${name}?socket=${socketPath}`,
    tcpUri: (name) => `nbd://${tcp.host}:${tcp.port}/${name}`,
    async stop() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function memoryExport(opts: Partial<MemoryExportOptions> & { name: string }): MemoryExport {
  return new MemoryExport({ size: 16 * 1024 * 1024, ...opts });
}

/** The same export without readInto, so the server takes the read() path. */
export function withoutReadInto<T extends NbdExport>(exp: T): T {
  return new Proxy(exp, { get: (t, k) => (k === 'readInto' ? undefined : Reflect.get(t, k, t)) });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command asynchronously (never execFileSync: the server shares this event loop). */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** True when a command can be run (tests needing it are skipped otherwise). */
export async function have(cmd: string): Promise<boolean> {
  const r = await run('sh', ['-c', `command -v ${cmd}`]);
  return r.code === 0;
}

/** A good client can negotiate, write and read back: the server survived whatever came before. */
export async function assertHealthy(ep: Endpoint, name: string): Promise<void> {
  const c = await RawNbdClient.connect(ep);
  try {
    await c.go(name, { structured: true });
    const data = Buffer.alloc(4096, 0x5a);
    const w = await c.write(0, data);
    assert.equal(w.error, 0);
    const r = await c.read_(0, 4096);
    assert.equal(r.error, 0);
    assert.ok(r.data!.equals(data));
    c.disconnect();
    assert.ok(await c.closedWithin(5000), 'server closes after DISC');
  } finally {
    c.close();
  }
}

/** Waits until cond() holds (polling), or fails after ms. */
export async function eventually(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
