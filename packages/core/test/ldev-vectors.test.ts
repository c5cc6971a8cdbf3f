import assert from 'node:assert/strict';
import { openSync, closeSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import {
  LogDeviceReader,
  catLogDevice,
  formatLogDevice,
  SequentialWriter,
  ChecksumMismatchError,
  uuidToHex,
  LogRecordKind,
  capacityPb,
} from '@blockwal/core';
import { manifest, vectorPath, sha256 } from '../../../test/support/vectors.js';
import { scratchDir } from '../../../test/support/scratch.js';

function withReader<T>(file: string, fn: (r: LogDeviceReader) => T): T {
  const fd = openSync(file, 'r');
  try {
    return fn(new LogDeviceReader(fd, file));
  } finally {
    closeSync(fd);
  }
}

function catToBuffer(file: string, tmpFile: string, opts?: { begin?: number; end?: number }) {
  const out = openSync(tmpFile, 'w');
  try {
    const res = withReader(file, (r) => {
      const w = new SequentialWriter(out, { file: tmpFile });
      const x = catLogDevice(r, w, opts);
      w.flush();
      return x;
    });
    return { res, bytes: readFileSync(tmpFile) };
  } finally {
    closeSync(out);
  }
}

function stat(file: string) {
  return withReader(file, (r) => {
    const s = { nrPacks: 0, normalLb: 0, discardLb: 0, paddingPb: 0, reallyEnd: 0 };
    const it = r.packs();
    for (;;) {
      const x = it.next();
      if (x.done) {
        s.reallyEnd = x.value.lsid;
        return s;
      }
      s.nrPacks++;
      for (const rec of x.value.header.records) {
        if (rec.kind === LogRecordKind.Normal) s.normalLb += rec.ioSize;
        else if (rec.kind === LogRecordKind.Discard) s.discardLb += rec.ioSize;
        else s.paddingPb += capacityPb(r.pbs, rec.ioSize);
      }
    }
  });
}

const kv = (lines: string[], sep = ' ') => Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(sep)), l.slice(l.indexOf(sep) + sep.length).trim()]));

describe('log device vectors from walb-tools', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  for (const c of ['ldev-pbs512-ringwrap', 'ldev-pbs4096-ringwrap']) {
    const m = manifest(c);
    const img = m.files.find((f) => f.kind === 'ldev-image')!;
    const cat = m.files.find((f) => f.path === 'ldev.cat.wlog')!;

    it(`${c}: reads the super sector as wldev-info prints it (pbs from the super sector)`, () => {
      const info = kv(img['wldev_info'] as string[], ': ');
      withReader(vectorPath(c, img.path), (r) => {
        const s = r.super;
        assert.equal(s.pbs, Number(info['pbs']));
        assert.equal(s.salt, Number(info['salt']));
        assert.equal(s.name, info['name']);
        assert.equal(s.ringBufferSize, Number(info['ringBufferSize']));
        assert.equal(s.oldestLsid, Number(info['oldestLsid']));
        assert.equal(s.writtenLsid, Number(info['writtenLsid']));
        assert.equal(s.deviceSize, Number(info['deviceSize']));
        assert.equal(r.layout.ringOffsetPb, Number(info['ringBufferOffset']));
        assert.equal(uuidToHex(s.uuid), info['uuid']);
      });
    });

    it(`${c}: walks the packs across the ring end as wldev-show -stat does`, () => {
      const want = kv((img['wldev_show_stat'] as string[]).filter((l) => !l.startsWith('WALB_CHECK')));
      const s = stat(vectorPath(c, img.path));
      assert.equal(s.nrPacks, Number(want['nrPacks']));
      assert.equal(s.reallyEnd, Number(want['reallyEndLsid']));
      assert.equal(s.normalLb, Number(want['normalLb']));
      assert.equal(s.discardLb, Number(want['discardLb']));
      assert.equal(s.paddingPb, Number(want['paddingPb']));
    });

    it(`${c}: ldev cat writes exactly the wlog that wlog-cat wrote`, () => {
      const { bytes } = catToBuffer(vectorPath(c, img.path), tmp.file(`${c}.wlog`));
      assert.equal(bytes.length, cat.size);
      assert.equal(sha256(bytes), cat.sha256);
    });
  }

  describe('corrupted log device images', () => {
    it('rejects a bad super sector checksum (walb-tools does not check it; the kernel does)', () => {
      assert.throws(
        () => withReader(vectorPath('corrupted', 'ldev512.bad-super-csum.img'), () => 0),
        (e: unknown) => e instanceof ChecksumMismatchError && /ldev512\.bad-super-csum\.img.*super sector checksum mismatch/.test(e.message),
      );
    });
    it('ends the log at an invalid logpack header', () => {
      const s = stat(vectorPath('corrupted', 'ldev512.bad-packhdr.img'));
      assert.deepEqual([s.nrPacks, s.reallyEnd], [6, 210]);
    });
    it('truncates the log at a bad IO checksum, as wlog-cat does', () => {
      const { res, bytes } = catToBuffer(vectorPath('corrupted', 'ldev512.bad-iodata.img'), tmp.file('bad-iodata.wlog'));
      assert.equal(res.end.lsid, 266);
      assert.equal(res.packs, 9);
      assert.ok(bytes.length > 4096);
    });
    it('reads the intact image like its source wlog', () => {
      const s = stat(vectorPath('corrupted', 'ldev512.img'));
      assert.deepEqual([s.nrPacks, s.reallyEnd], [19, 365]);
    });
  });

  describe('formatting', () => {
    it('formats an image that then reads back as an empty log', () => {
      for (const pbs of [512, 4096]) {
        const f = tmp.file(`fmt-${pbs}.img`);
        writeFileSync(f, Buffer.alloc(1 << 20, 0xee));
        const fd = openSync(f, 'r+');
        try {
          formatLogDevice(fd, f, { dataSize: 8 << 20, pbs, name: 'vol0' });
        } finally {
          closeSync(fd);
        }
        withReader(f, (r) => {
          assert.equal(r.super.pbs, pbs);
          assert.equal(r.super.name, 'vol0');
          assert.equal(r.super.deviceSize, (8 << 20) / 512);
          assert.equal(r.super.ringBufferSize, (1 << 20) / pbs - (4096 / pbs + 2));
          const it = r.packs();
          const first = it.next();
          assert.ok(first.done);
          assert.equal(first.value.lsid, 0);
        });
        copyFileSync(f, tmp.file('x.img'));
      }
    });
  });
});
