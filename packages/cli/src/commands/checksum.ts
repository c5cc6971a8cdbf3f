/** blockwal checksum FILE [--salt N] [--hex] [--bulk BYTES]: the WalB checksum of a file. */
import { walbChecksum, withInput, readFull, UsageError } from '@blockwal/core';
import { flag, parse, parseSize, parseUint, positionals, str } from '../args.js';
import { out } from '../output.js';

export const usage = 'blockwal checksum FILE|- [--salt N] [--hex] [--bulk BYTES]';

export function run(argv: string[]): number {
  const p = parse(argv, { salt: { type: 'string' }, hex: { type: 'boolean' }, bulk: { type: 'string' } }, usage);
  const [file] = positionals(p, ['FILE'], usage);
  const salt = str(p, 'salt') !== undefined ? parseUint(str(p, 'salt')!, 'salt', 0xffff_ffff) : 0;
  const bulk = str(p, 'bulk') !== undefined ? parseSize(str(p, 'bulk')!, 'bulk size') : 0;
  if (str(p, 'bulk') !== undefined && bulk <= 0) throw new UsageError('--bulk must be positive');
  const fmt = (c: number) => (flag(p, 'hex') ? c.toString(16).padStart(8, '0') : String(c));
  withInput(file!, (inp) => {
    const chunk = bulk > 0 ? bulk : 4 * 1024 * 1024;
    const buf = Buffer.allocUnsafeSlow(chunk);
    let pos: number | null = inp.seekable ? 0 : null;
    let index = 0;
    // Whole-file mode chains the running word sum through the salt, which is exact because every
    // chunk but the last is a multiple of 4 bytes long.
    let sum = salt;
    for (;;) {
      const n = readFull(inp.fd, buf, pos, inp.name);
      if (pos !== null) pos += n;
      if (n === 0 && (bulk > 0 || index > 0)) break;
      if (bulk > 0) out(`${index}\t${fmt(walbChecksum(buf.subarray(0, n), salt))}`);
      else sum = (0 - walbChecksum(buf.subarray(0, n), sum)) >>> 0;
      index++;
      if (n < chunk) break;
    }
    if (bulk === 0) out(fmt((0 - sum) >>> 0));
  });
  return 0;
}
