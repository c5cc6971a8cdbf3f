import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { blockwal } from '../support/cli.js';
import { REPO_ROOT } from '../support/vectors.js';

const DIST = path.join(REPO_ROOT, 'packages', 'cli', 'dist');

/** The packages outside the bundle that running one command loads (its chunk and what it imports statically). */
function externalsOf(command: string): Set<string> {
  const main = readFileSync(path.join(DIST, 'blockwal.mjs'), 'utf8');
  const key = /^[a-z]+$/.test(command) ? command : JSON.stringify(command);
  const m = new RegExp(`(?:^|[\\s{,])${key.replace(/[-"]/g, (c) => `\\${c}`)}: \\{[^\\n]*?import\\("\\./(chunk-\\w+\\.mjs)"\\)`, 'm').exec(main);
  assert.ok(m, `the bundle loads "${command}" from a chunk of its own`);
  const seen = new Set<string>();
  const externals = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(path.join(DIST, file), 'utf8');
    for (const im of text.matchAll(/^import\s*(?:[^;]*?from\s*)?"([^"]+)";?$/gm)) {
      const dep = im[1]!;
      if (dep.startsWith('./')) walk(dep.slice(2));
      else if (!dep.startsWith('node:')) externals.add(dep);
    }
  };
  walk('blockwal.mjs');
  walk(m[1]!);
  return externals;
}

describe('the blockwal bundle', () => {
  it('format tools start without the server libraries (gRPC, protobufjs, pino, prom-client)', () => {
    for (const c of ['wlog', 'wdiff', 'ldev', 'virt-full-cat', 'checksum', 'version']) {
      assert.deepEqual([...externalsOf(c)], ['@blockwal/native-io'], c);
    }
  });

  it('admin commands load gRPC but not the health service, logging or metrics of the servers', () => {
    for (const c of ['snapshot', 'status', 'volume', 'restore']) {
      const ext = externalsOf(c);
      assert.ok(ext.has('@grpc/grpc-js'), `${c} talks gRPC`);
      for (const heavy of ['grpc-health-check', 'pino', 'prom-client']) assert.ok(!ext.has(heavy), `${c} loads ${heavy}`);
    }
    const demo = externalsOf('demo');
    for (const all of ['@grpc/grpc-js', 'grpc-health-check', 'pino', 'prom-client']) assert.ok(demo.has(all), `demo runs the servers: ${all}`);
  });

  it('device serve refuses a bad --writeback size with a usage error', () => {
    const r = blockwal(['device', 'serve', '--data', 'd', '--log', 'l', '--socket', 's', '--writeback', '12Q']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid writeback "12Q"/);
  });
});
