import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  FormatError,
  formatWdiffName,
  metaDiff,
  metaSnap,
  parseUtcTimestamp,
  parseWdiffName,
  UsageError,
  wdiffNameFromArgs,
  type MetaDiff,
  type WdiffNameArgs,
} from '@blockwal/core';
import { vectorPath } from '../../../test/support/vectors.js';
import { diffArb } from './support/meta-arb.js';

interface NameCase {
  command: string;
  exit_code: number;
  stdout: string;
  stderr: string;
}

/** The arguments of a `wdiff-name-gen` command line. */
function argsOf(command: string): WdiffNameArgs {
  const words = command.split(' ').slice(1);
  const gids: string[] = [];
  let time: string | undefined;
  let [mergeable, compared] = [true, false];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '-d') time = words[++i];
    else if (words[i] === '-nomerge') mergeable = false;
    else if (words[i] === '-comp') compared = true;
    else gids.push(words[i]!);
  }
  return { gids, mergeable, compared, ...(time === undefined ? {} : { time }) };
}

/** Where blockwal is stricter than wdiff-name-gen, which checks neither the gids nor their order. */
const STRICTER: Record<string, RegExp> = {
  'wdiff-name-gen -d 20240102030405 0 18446744073709551615': /not a gid/, // gids are at most 2^53 - 1
  'wdiff-name-gen -d 20240102030405 20 10': /must progress/, // a name its own parser refuses
};

/** wdiff-name-gen's error messages that blockwal words differently. */
const REWORDED: Record<string, string> = { 'Option:specify two or four lsids:3': 'specify two or four gids, got 3' };

describe('wdiff file names (walb-formats §7.4)', () => {
  const cases = JSON.parse(readFileSync(vectorPath('wdiff-name-gen', 'names.json'), 'utf8')) as NameCase[];

  it('reproduces every wdiff-name-gen output, and refuses what it refuses', () => {
    assert.equal(cases.length, 16);
    for (const c of cases) {
      const run = () => wdiffNameFromArgs(argsOf(c.command), 0);
      const stricter = STRICTER[c.command];
      if (c.exit_code === 0 && !stricter) {
        assert.equal(run(), c.stdout, c.command);
        assert.equal(formatWdiffName(parseWdiffName(c.stdout)), c.stdout, c.command);
        continue;
      }
      // blockwal's stricter reason, or wdiff-name-gen's own message (such as "mon must be between 1 and 12.").
      const walbReason = c.stderr.replace('ERROR wdiff-name-gen:', '');
      const says = (m: string) => (stricter ? stricter.test(m) : m.includes(REWORDED[walbReason] ?? walbReason.replace(/\.$/, '')));
      assert.throws(run, (e: unknown) => e instanceof UsageError && says(e.message), c.command);
    }
    assert.deepEqual(Object.keys(STRICTER).filter((cmd) => cases.find((c) => c.command === cmd)?.exit_code === 0), Object.keys(STRICTER));
  });

  it('cannot read the names blockwal refuses to write', () => {
    assert.throws(() => parseWdiffName('20240102030405-M--20-10.wdiff'), FormatError); // walb-tools refuses it too
    assert.throws(() => parseWdiffName('20240102030405-M--0-18446744073709551615.wdiff'), FormatError); // walb-tools reads it
  });

  it('takes the time as a Date, unix seconds, or now', () => {
    const args = { gids: [10, 20], mergeable: true, compared: false };
    assert.equal(wdiffNameFromArgs({ ...args, time: new Date('2024-01-02T03:04:05Z') }, 0), '20240102030405-M--10-20.wdiff');
    assert.equal(wdiffNameFromArgs({ ...args, time: 1_700_000_000 }, 0), '20231114221320-M--10-20.wdiff');
    assert.equal(wdiffNameFromArgs(args, 1_700_000_000), '20231114221320-M--10-20.wdiff');
    assert.equal(wdiffNameFromArgs({ ...args, gids: ['1k', '2K'] }, 0), '19700101000000-M--1000-2048.wdiff');
    for (const bad of [{ time: new Date(Number.NaN) }, { time: -1 }, { gids: ['ten', '20'] }, { gids: [10.5, 20] }]) {
      assert.throws(() => wdiffNameFromArgs({ ...args, ...bad }, 0), UsageError);
    }
  });

  it('parses names with the leniency of walb-tools', () => {
    const ts = parseUtcTimestamp('20240102030405');
    const ok: [string, MetaDiff][] = [
      ['20240102030405-M--10-20.wdiff', metaDiff(10, 20, { isMergeable: true, timestamp: ts })],
      ['20240102030405--C-10-11-20-25.wdiff', metaDiff(metaSnap(10, 11), metaSnap(20, 25), { isCompDiff: true, timestamp: ts })],
      ['19700101000000----300-400-70000-70001.wdiff', metaDiff(metaSnap(300, 400), metaSnap(70000, 70001))],
      ['20240102030405-xy-010-0020.wdiff', metaDiff(10, 20, { timestamp: ts })], // other flag letters, leading zeros
      ['20240102030405-M--5-5-7-7.wdiff', metaDiff(5, 7, { isMergeable: true, timestamp: ts })], // clean in the 4-gid form
      ['20240102030405-M--10-20.wdiff.tmp', metaDiff(10, 20, { isMergeable: true, timestamp: ts })], // text after .wdiff
      ['20240102030405-M--1-1-2-2-rest.txt', metaDiff(1, 2, { isMergeable: true, timestamp: ts })], // rest after a 4th '-'
      ['19700101000000-MC-0-1.wdiff', metaDiff(0, 1, { isMergeable: true, isCompDiff: true })], // the shortest
      ['20240230000000-M--1-2.wdiff', metaDiff(1, 2, { isMergeable: true, timestamp: parseUtcTimestamp('20240301000000') })],
    ];
    for (const [name, d] of ok) assert.deepEqual(parseWdiffName(name), d, name);
  });

  it('refuses malformed names, naming the file', () => {
    const bad = [
      '20240102030405-M--1-2.wdif', // too short
      '2024010203040X-M--10-20.wdiff',
      '20241301030405-M--10-20.wdiff',
      '20240102030405_M--10-20.wdiff',
      '20240102030405-M-_10-20.wdiff',
      '20240102030405-M--10-20.wdiff-x', // '-' after .wdiff
      '20240102030405-M--10-20.wdif2',
      '20240102030405-M--12345.wdiff', // one gid
      '20240102030405-M--1-2-3.wdiff', // three gids
      '20240102030405-M---2.wdiff', // empty gid
      '20240102030405-M--1-+2.wdiff',
      '20240102030405-M--10-10.wdiff', // no progress
      '20240102030405-M--10-12-20-11.wdiff', // |20,11|
      '20240102030405-M--10-30-20-25.wdiff', // snapB.gidE > snapE.gidE
      '20240102030405-M--1-9007199254740992.wdiff', // beyond 2^53 - 1 (stricter than walb-tools)
      '19691231235959-M--1-2.wdiff', // before 1970 (stricter than walb-tools)
    ];
    for (const name of bad) {
      assert.throws(() => parseWdiffName(name), (e: unknown) => e instanceof FormatError && e.where.file === name, name);
    }
  });

  it('parses what it formats, and formats names canonically', () => {
    fc.assert(
      fc.property(diffArb, (d) => {
        const name = formatWdiffName(d);
        assert.deepEqual(parseWdiffName(name), { ...d, dataSize: 0 });
        assert.equal(formatWdiffName(parseWdiffName(name)), name);
        assert.match(name, /^[0-9]{14}-[M-][C-](-[0-9]+){2}((-[0-9]+){2})?\.wdiff$/);
      }),
      { numRuns: 1000 },
    );
  });
});
