/** Checks of request arguments: clear bad-argument refusals that name the value. */
import { NAME_PATTERN, RejectedError } from '@blockwal/core';

export function checkVolumeName(name: string): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    // Quoted and cut (as the proxy does): a huge name echoed whole makes the gRPC status too large for its trailer.
    const n = String(name);
    throw new RejectedError('bad-argument', `bad volume name ${JSON.stringify(n.slice(0, 80))}${n.length > 80 ? `… (${n.length} characters)` : ''}: it must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}`);
  }
  return name;
}

export function checkVolumeSize(size: number, volume: string): number {
  if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) {
    throw new RejectedError('bad-argument', `bad size ${size} for volume ${volume}: it must be a positive multiple of 4096 bytes`, { volume });
  }
  return size;
}

const MIB = 1024 * 1024;

/** Log device size of a new volume: the configured one, else an eighth of the volume in [64 MiB, 4 GiB]. */
export function logSizeFor(size: number, configured?: number): number {
  const s = configured ?? Math.min(4096 * MIB, Math.max(64 * MIB, Math.floor(size / 8)));
  return s - (s % 4096);
}
