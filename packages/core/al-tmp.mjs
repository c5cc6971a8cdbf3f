import { openSync, readSync } from 'node:fs';
import { allocAligned } from '@blockwal/native-io';
const fd = openSync('/dev/shm/blockwal-bench/c.wlog', 'r');
function run(buf) { let pos = 0, n; const t = performance.now(); while ((n = readSync(fd, buf, 0, 131072, pos)) > 0) pos += n; return (performance.now() - t).toFixed(0); }
const big = allocAligned(1 << 21, 4096);
for (let i = 0; i < 2; i++) for (const off of [0, 16, 64, 128, 2048, 4080]) console.log('offset', off, run(big.subarray(off, off + 131072)), 'ms');
const u = Buffer.allocUnsafeSlow(131072); console.log('allocUnsafeSlow addr mod 4096 =', '?', run(u));
