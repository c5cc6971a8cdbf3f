/** Sizes and durations in config files and on the command line: a number or a string with a unit. */

/**
 * Units of sizes, as walb-tools reads them: K M G T (and KiB MiB GiB TiB) are powers of 1024;
 * k m g t (and KB MB GB TB) are powers of 1000.
 */
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** "128MiB", "4 GiB", "1.5G", "65536", "0x1000" → bytes; undefined when not a size. */
export function parseSize(s: string): number | undefined {
  const hex = /^\s*0x([0-9a-fA-F]+)\s*$/.exec(s);
  if (hex) {
    const v = parseInt(hex[1]!, 16);
    return Number.isSafeInteger(v) ? v : undefined;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(s);
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2]!];
  if (unit === undefined) return undefined;
  const v = Number(m[1]) * unit;
  return Number.isSafeInteger(v) ? v : undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10s", "250ms", "5m", "1h" → milliseconds; undefined when not a duration. */
export function parseDuration(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(s);
  if (!m) return undefined;
  const unit = DURATION_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

/** 1536 → "1.5 KiB". */
export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2).replace(/\.?0+$/, '')} ${units[i]}`;
}
