import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { blockwal } from '../support/cli.js';
import { manifest, vectorPath, sha256 } from '../support/vectors.js';
import { scratchDir, zeroImage, fileSha256 } from '../support/scratch.js';

const V = (c: string, f: string) => vectorPath(c, f);

describe('blockwal format tools (the real command)', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  it('prints help and version', () => {
    const h = blockwal(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /wlog to-wdiff IN OUT/);
    const v = blockwal(['version', '--json']);
    assert.equal(v.code, 0);
    const info = JSON.parse(v.stdout) as { blockwal: string; native: { loaded: boolean }; codecs: Record<string, string> };
    assert.ok(info.blockwal);
    assert.ok(info.codecs['snappy']);
  });

  it('checksum matches the walb-tools checksum tool', () => {
    const cases = JSON.parse(readFileSync(V('checksum', 'checksums.json'), 'utf8')) as Array<{ command: string; stdout: string[] }>;
    for (const c of cases.filter((x) => !x.command.includes('empty.bin') || !x.command.includes('-bulk'))) {
      const words = c.command.split(' ');
      const args = words.slice(1, -1).map((w) => (w === '-salt' ? '--salt' : w === '-hex' ? '--hex' : w === '-bulk' ? '--bulk' : w));
      const r = blockwal(['checksum', V('checksum', words[words.length - 1]!), ...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trimEnd().split('\n'), c.stdout, c.command);
    }
  });

  it('wlog show --stat --json agrees with wlog-show -stat', () => {
    const m = manifest('wlog-pbs4096-all-kinds');
    const f = m.files.find((x) => x.kind === 'wlog')!;
    const r = blockwal(['wlog', 'show', V(m.case, f.path), '--stat', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const st = JSON.parse(lines[lines.length - 1]!) as Record<string, number>;
    const want = Object.fromEntries((f['wlog_show_stat'] as string[]).map((l) => l.split(' ')));
    assert.equal(st['reallyEndLsid'], Number(want['reallyEndLsid']));
    assert.equal(st['packs'], Number(want['nrPacks']));
    assert.equal(st['normalLb'], Number(want['normalLb']));
    assert.equal(st['discardLb'], Number(want['discardLb']));
    assert.equal(st['paddingPb'], Number(want['paddingPb']));
  });

  it('converts a wlog read from stdin to a wdiff on stdout, and redo gives the image', () => {
    const m = manifest('wlog-pbs512-all-kinds');
    const f = m.files.find((x) => x.kind === 'wlog')!;
    for (const extra of [[], ['--indexed']]) {
      const out = tmp.file(`stdin${extra.join('')}.wdiff`);
      if (extra.length === 0) {
        const r = blockwal(['wlog', 'to-wdiff', '-', '-', '--compress', 'zstd:3'], { input: readFileSync(V(m.case, f.path)) });
        assert.equal(r.code, 0, r.stderr);
        writeFileSync(out, r.stdoutBytes);
      } else {
        const r = blockwal(['wlog', 'to-wdiff', '-', out, ...extra], { input: readFileSync(V(m.case, f.path)) });
        assert.equal(r.code, 0, r.stderr);
      }
      const img = zeroImage(tmp.file('img'), m.devsize!);
      const r2 = blockwal(['wdiff', 'redo', out, img]);
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(fileSha256(img), f.applied!.image_sha256_discard_zero);
    }
  });

  it('wlog redo honours --discard', () => {
    const m = manifest('wlog-pbs512-all-kinds');
    const f = m.files.find((x) => x.kind === 'wlog')!;
    for (const [mode, want] of [['zero', f.applied!.image_sha256_discard_zero], ['ignore', f.applied!.image_sha256_discard_ignored]] as const) {
      const img = zeroImage(tmp.file(`img-${mode}`), m.devsize!);
      const r = blockwal(['wlog', 'redo', V(m.case, f.path), img, '--discard', mode]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fileSha256(img), want);
    }
  });

  it('wdiff merge, show and virt-full-cat work on the merge vectors', () => {
    const c = 'wdiff-merge-cmpr';
    const m = manifest(c);
    const ins = ['in0.sorted.wdiff', 'in1.sorted.wdiff', 'in2.indexed.wdiff'].map((x) => V(c, x));
    const out = tmp.file('m.wdiff');
    const r = blockwal(['wdiff', 'merge', '-o', out, ...ins, '--compress', 'none', '--uuid', '00000000000000000000000000000000']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(readFileSync(out)), m.files.find((x) => x.path === 'merged.none.wdiff')!.sha256);
    const s = blockwal(['wdiff', 'show', out, '--stat']);
    assert.equal(s.code, 0);
    assert.deepEqual(s.stdout.trim().split('\n').slice(1), (m.files.find((x) => x.path === 'merged.none.wdiff')!['wdiff_show_stat'] as string[]).slice(1));
    const v = blockwal(['wdiff', 'show', V(c, 'merged.lzma-L9.wdiff'), '--verify', '--json']);
    assert.equal(v.code, 0, v.stderr);
    const virt = tmp.file('virt.img');
    const vr = blockwal(['virt-full-cat', '--base', V(c, 'base.img'), '-o', virt, ...ins]);
    assert.equal(vr.code, 0, vr.stderr);
    assert.equal(fileSha256(virt), (m['virt_full_cat'] as { output_sha256: string }).output_sha256);
  });

  it('wdiff full warns about a partial last sector', () => {
    const out = tmp.file('full.wdiff');
    const r = blockwal(['wdiff', 'full', V('wdiff-full-small', 'img1.img'), '-o', out, '--io-size', '48K']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /last 1000 bytes|last 488 bytes/);
  });

  it('wdiff name reproduces wdiff-name-gen', () => {
    const cases = JSON.parse(readFileSync(V('wdiff-name-gen', 'names.json'), 'utf8')) as Array<{ command: string; exit_code: number; stdout: string }>;
    let checked = 0;
    for (const c of cases.filter((x) => x.exit_code === 0)) {
      const args = c.command.split(' ').slice(1).map((w) => ({ '-d': '--time', '-nomerge': '--no-merge', '-comp': '--compared' })[w] ?? w);
      const gids = args.filter((w, i) => /^(0x)?[0-9]/.test(w) && args[i - 1] !== '--time');
      // blockwal is stricter than wdiff-name-gen: gids up to 2^53 - 1, and the diff must progress.
      if (gids.some((g) => Number(g) > Number.MAX_SAFE_INTEGER) || Number(gids[0]) >= Number(gids[gids.length === 4 ? 2 : 1])) {
        assert.equal(blockwal(['wdiff', 'name', ...args]).code, 1, c.command);
        continue;
      }
      const r = blockwal(['wdiff', 'name', ...args]);
      assert.equal(r.code, 0, `${c.command}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), c.stdout, c.command);
      checked++;
    }
    assert.ok(checked >= 8);
    assert.equal(blockwal(['wdiff', 'name', '10', '20', '30']).code, 1);
  });

  it('ldev format, show and cat', () => {
    const ldev = tmp.file('l.img');
    const f = blockwal(['ldev', 'format', ldev, '--size', '1M', '--data-size', '16M', '--pbs', '4096', '--name', 'v0']);
    assert.equal(f.code, 0, f.stderr);
    const s = blockwal(['ldev', 'show', ldev, '--json']);
    assert.equal(s.code, 0, s.stderr);
    const info = JSON.parse(s.stdout) as { pbs: number; name: string; packs: number; deviceSizeLb: number };
    assert.deepEqual([info.pbs, info.name, info.packs, info.deviceSizeLb], [4096, 'v0', 0, 32768]);
    const m = manifest('ldev-pbs4096-ringwrap');
    const out = tmp.file('cat.wlog');
    const c = blockwal(['ldev', 'cat', V(m.case, 'ldev.img'), '-o', out]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(sha256(readFileSync(out)), m.files.find((x) => x.path === 'ldev.cat.wlog')!.sha256);
  });

  describe('bad input: exit code 2, a message naming the file and the problem, no output left behind', () => {
    const m = manifest('corrupted');
    const runFor = (file: string): ReturnType<typeof blockwal> => {
      const p = V('corrupted', file);
      if (file.endsWith('.wlog')) return blockwal(['wlog', 'to-wdiff', p, tmp.file(`${file}.out.wdiff`)]);
      if (file.endsWith('.wdiff')) return blockwal(['wdiff', 'show', p, '--verify']);
      return blockwal(['ldev', 'cat', p, '-o', tmp.file(`${file}.out.wlog`)]);
    };
    for (const c of m.corrupted!) {
      const edge = c.expected_reader_behaviour.startsWith('EDGE CASE');
      const lenientLdev = c.path === 'ldev512.bad-iodata.img' || c.path === 'ldev512.bad-packhdr.img';
      it(`${c.path}: ${edge || lenientLdev ? 'accepted' : 'rejected'} (${c.what.slice(0, 60)}…)`, () => {
        const r = runFor(c.path);
        if (edge || lenientLdev) {
          assert.equal(r.code, 0, r.stderr);
          return;
        }
        assert.equal(r.code, 2, `${r.code} ${r.stderr}`);
        const line = r.stderr.trim();
        assert.equal(line.split('\n').length, 1, 'one line');
        assert.ok(line.includes(c.path), `names the file: ${line}`);
        assert.match(line, /checksum|end of input|invalid|missing|mismatch|truncated|index super/i);
        assert.ok(!readdirSync(tmp.dir).some((n) => n.includes('.tmp-')), 'no partial output');
        assert.ok(!existsSync(tmp.file(`${c.path}.out.wdiff`)) && !existsSync(tmp.file(`${c.path}.out.wlog`)));
      });
    }
  });

  it('usage errors exit 1, missing files exit 3', () => {
    assert.equal(blockwal(['wlog']).code, 1);
    assert.equal(blockwal(['wlog', 'show']).code, 1);
    assert.equal(blockwal(['wlog', 'to-wdiff', 'a', 'b', '--compress', 'bogus']).code, 1);
    assert.equal(blockwal(['wlog', 'to-wdiff', 'a', 'b', '--max-io-size', '1000']).code, 1);
    assert.equal(blockwal(['nosuch']).code, 1);
    const r = blockwal(['wlog', 'show', tmp.file('does-not-exist.wlog')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /does-not-exist\.wlog.*ENOENT/);
  });
});

describe('blockwal demo', function () {
  this.timeout(180_000);
  it('demo formats: the format engine alone on a small volume, every restore matches by sha256', () => {
    const r = blockwal(['demo', 'formats', '--size', '8M', '--snapshots', '4', '--writes', '60']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((r.stdout.match(/ OK/g) ?? []).length, 6);
    assert.match(r.stdout, /every restored snapshot matches/);
  });

  it('the cluster demo (agent, proxy, archive over gRPC): every snapshot restores to the device hash', () => {
    const r = blockwal(['demo', '--size', '16M', '--snapshots', '3', '--writes', '100']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rows = r.stdout.split('\n').filter((l) => /^\d+\s+[0-9a-f]{64}\s+[0-9a-f]{64}\s+match$/.test(l));
    assert.equal(rows.length, 3, r.stdout);
    for (const row of rows) {
      const [, a, b] = row.split(/\s+/);
      assert.equal(a, b);
    }
    assert.match(r.stdout, /every restore matches \(3 snapshots\)/);
  });
});
