/**
 * A progress line on stderr for long work, shown only when stderr is a terminal. Synchronous
 * (the format operations block the event loop), redrawn at most every 200 ms.
 */
import { writeSync } from 'node:fs';

export interface Progress {
  update(done: number): void;
  finish(): void;
}

const NONE: Progress = { update() {}, finish() {} };

export function progress(label: string, total: number | null, enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return NONE;
  const start = Date.now();
  let last = 0;
  let shown = false;
  const draw = (done: number) => {
    const secs = Math.max((Date.now() - start) / 1000, 1e-3);
    const rate = `${(done / secs / 1e6).toFixed(0)} MB/s`;
    let line: string;
    if (total && total > 0) {
      const f = Math.min(done / total, 1);
      const width = 30;
      const fill = Math.round(f * width);
      line = `${label} [${'='.repeat(fill)}${' '.repeat(width - fill)}] ${(f * 100).toFixed(0).padStart(3)}% ${mb(done)}/${mb(total)} ${rate}`;
    } else line = `${label} ${mb(done)} ${rate}`;
    writeSync(2, `\r${line}\x1b[K`);
    shown = true;
  };
  return {
    update(done: number) {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      draw(done);
    },
    finish() {
      if (shown) writeSync(2, '\r\x1b[K');
    },
  };
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}
