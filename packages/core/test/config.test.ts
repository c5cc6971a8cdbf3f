import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMBEDDED_CONFIG_YAML, UsageError, formatSize, loadConfig, parseConfig, parseDuration, parseSize } from '@blockwal/core';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'examples');

describe('config', () => {
  it('the embedded default is a whole cluster on loopback under ./blockwal-data', () => {
    const c = parseConfig(EMBEDDED_CONFIG_YAML, 'embedded', { baseDir: '/x', env: {} });
    assert.equal(c.dataDir, '/x/blockwal-data');
    assert.deepEqual([c.storage.length, c.proxies.length, c.archives.length], [1, 1, 1]);
    assert.equal(c.storage[0]!.dir, '/x/blockwal-data/s0');
    assert.equal(c.storage[0]!.chunkMaxBytes, 128 * 1024 * 1024);
    assert.equal(c.storage[0]!.snapshotIntervalMs, 10_000);
    assert.equal(c.archives[0]!.restoreDir, '/x/blockwal-data/a0/restored');
    assert.equal(c.proxies[0]!.archives[0]!.compression, 'snappy');
  });

  it('--data-dir and BLOCKWAL_DATA_DIR override dataDir', () => {
    assert.equal(parseConfig(EMBEDDED_CONFIG_YAML, 'e', { baseDir: '/x', env: { BLOCKWAL_DATA_DIR: '/d' } }).dataDir, '/d');
    assert.equal(parseConfig(EMBEDDED_CONFIG_YAML, 'e', { baseDir: '/x', env: { BLOCKWAL_DATA_DIR: '/d' }, dataDir: 'y' }).dataDir, '/x/y');
  });

  for (const f of readdirSync(examples).filter((n) => n.endsWith('.yaml'))) {
    it(`sample ${f} parses`, () => {
      const c = loadConfig(path.join(examples, f), { env: {} });
      assert.ok(c.storage.length + c.proxies.length + c.archives.length > 0);
    });
  }

  for (const f of readdirSync(path.join(examples, 'invalid'))) {
    it(`invalid sample ${f} fails naming its key`, () => {
      const file = path.join(examples, 'invalid', f);
      const expected = /^# error: (.*)$/m.exec(readFileSync(file, 'utf8'))![1]!;
      assert.throws(() => loadConfig(file, { env: {} }), (e: unknown) => e instanceof UsageError && e.message.includes(expected));
    });
  }

  it('TLS settings reach every server', () => {
    const c = loadConfig(path.join(examples, 'tls.yaml'), { env: {} });
    for (const s of [...c.storage, ...c.proxies, ...c.archives]) assert.equal(s.tls?.caFile, '/etc/blockwal/tls/ca.pem');
  });

  it('parses sizes and durations with units', () => {
    assert.equal(parseSize('128MiB'), 128 * 2 ** 20);
    assert.equal(parseSize('4 GiB'), 4 * 2 ** 30);
    assert.equal(parseSize('1.5K'), 1536);
    assert.equal(parseSize('1k'), 1000);
    assert.equal(parseSize('0x1000'), 4096);
    assert.equal(parseSize('10 parsecs'), undefined);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('5'), undefined);
    assert.equal(formatSize(1536), '1.5 KiB');
    assert.equal(formatSize(100), '100 B');
  });
});
