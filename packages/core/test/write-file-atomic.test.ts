/** writeFileAtomic: the state/metadata writer every server uses (archive, proxy, storage agent). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IoError, writeFileAtomic } from '../src/index.js';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'blockwal-atomic-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes and replaces the whole content, leaving no temp file', () => {
    const f = path.join(dir, 'state.json');
    writeFileAtomic(f, 'one\n');
    writeFileAtomic(f, 'two — ü\n'.repeat(10_000));
    assert.equal(readFileSync(f, 'utf8'), 'two — ü\n'.repeat(10_000));
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  it('a failed write is an IoError naming the file; what was there stays, no temp is left', () => {
    const f = path.join(dir, 'state.json');
    mkdirSync(f); // rename onto a directory fails
    assert.throws(() => writeFileAtomic(f, 'x'), (e: unknown) => e instanceof IoError && e.message.includes(f));
    assert.deepEqual(readdirSync(dir), ['state.json']);
    assert.deepEqual(readdirSync(f), []);
    assert.throws(() => writeFileAtomic(path.join(dir, 'missing', 'f'), 'x'), IoError);
  });
});
