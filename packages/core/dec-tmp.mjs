import { openSync, readSync } from 'node:fs';
import { WlogDecoder } from '@blockwal/core';
const fd = openSync('/dev/shm/blockwal-bench/' + process.argv[2], 'r');
function run(decode) {
  const buf = Buffer.allocUnsafeSlow(131072);
  const dec = new WlogDecoder({ record() {} });
  let pos = 0, n, rt = 0n; const t0 = performance.now();
  for (;;) { const t = process.hrtime.bigint(); n = readSync(fd, buf, 0, 131072, pos); rt += process.hrtime.bigint() - t; if (n <= 0) break; pos += n; if (decode) dec.push(buf.subarray(0, n)); }
  return `${(Number(rt) / 1e6).toFixed(0)}/${(performance.now() - t0).toFixed(0)}`;
}
for (let i = 0; i < 3; i++) console.log('plain', run(false), 'decode', run(true));
