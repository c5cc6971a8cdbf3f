import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { walbChecksum, sealBlock, blockVerifies } from '@blockwal/core';
import { vectorPath } from '../../../test/support/vectors.js';

interface ChecksumCase { command: string; exit_code: number; stdout: string[] }

/** Re-runs what the walb-tools `checksum` tool printed for each vector input. */
function runChecksumTool(args: string[], data: Uint8Array): string[] {
  let salt = 0;
  let hex = false;
  let bulk = 0;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-salt') salt = Number(args[++i]) >>> 0;
    else if (args[i] === '-hex') hex = true;
    else if (args[i] === '-bulk') bulk = Number(args[++i]);
  }
  const fmt = (c: number) => (hex ? c.toString(16).padStart(8, '0') : String(c));
  if (!bulk) return [fmt(walbChecksum(data, salt))];
  const out: string[] = [];
  for (let off = 0, i = 0; off < data.length; off += bulk, i++) out.push(`${i}\t${fmt(walbChecksum(data.subarray(off, off + bulk), salt))}`);
  return out.length ? out : [''];
}

describe('WalB checksum', () => {
  it('matches every output of the walb-tools checksum tool', () => {
    const cases = JSON.parse(readFileSync(vectorPath('checksum', 'checksums.json'), 'utf8')) as ChecksumCase[];
    assert.ok(cases.length > 40);
    for (const c of cases) {
      const words = c.command.split(' ');
      const file = words[words.length - 1]!;
      const data = new Uint8Array(readFileSync(vectorPath('checksum', file)));
      assert.deepEqual(runChecksumTool(words.slice(1, -1), data), c.stdout, c.command);
    }
  });

  it('gives the worked examples of the format reference', () => {
    const b8 = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(walbChecksum(b8), 0xf3f5f7fa);
    assert.equal(walbChecksum(b8, 0x12345678), 0xe1c1a182);
    assert.equal(walbChecksum(b8.subarray(0, 5)), 0xfbfcfdfa);
    assert.equal(walbChecksum(new Uint8Array(512), 0x12345678), 0xedcba988);
  });

  it('handles buffers at unaligned offsets like aligned ones', () => {
    const big = new Uint8Array(4099);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 0xff;
    for (const start of [0, 1, 2, 3]) {
      const view = big.subarray(start, start + 4093);
      const copy = new Uint8Array(view);
      assert.equal(walbChecksum(view, 99), walbChecksum(copy, 99));
    }
  });

  it('seals a block so that it verifies to zero, and detects a flipped bit', () => {
    const block = new Uint8Array(512);
    block.fill(0xab, 20);
    sealBlock(block, 4, 0xdeadbeef);
    assert.ok(blockVerifies(block, 0xdeadbeef));
    block[100]! ^= 1;
    assert.ok(!blockVerifies(block, 0xdeadbeef));
  });
});
