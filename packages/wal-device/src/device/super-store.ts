/**
 * Reading and writing the super sector crash-safely. The WalB layout has a reserved second super
 * sector (super 1, never read by WalB); blockwal writes the new super sector there first, syncs,
 * then to super 0, and syncs again. A write torn by a power cut can then damage only one of the
 * two, and reading falls back to super 1 when super 0 does not verify (and repairs super 0).
 */
import { ChecksumMismatchError, FormatError, PAGE_SIZE, encodeSuperSector, logDeviceLayout, parseSuperSector, type LogDeviceLayout, type SuperSector } from '@blockwal/core';
import type { DeviceFile } from './device-file.js';

export function superPositions(pbs: number, metadataSize = 0): { super0: number; super1: number } {
  const layout = logDeviceLayout(pbs, 1, metadataSize);
  return { super0: layout.superPb * pbs, super1: (layout.ringOffsetPb - 1) * pbs };
}

export interface LoadedSuper {
  super: SuperSector;
  layout: LogDeviceLayout;
  /** True when super 0 was damaged and super 1 was used (super 0 has been rewritten). */
  repaired: boolean;
}

export function readSuper(file: DeviceFile): LoadedSuper {
  const first = Buffer.alloc(PAGE_SIZE);
  file.readSync(first, PAGE_SIZE);
  let s: SuperSector;
  let repaired = false;
  try {
    s = parseSuperSector(first, { file: file.name });
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    // Super 0 is bad: try super 1 at each possible pbs.
    const backup = readBackup(file);
    if (!backup) throw e;
    s = backup;
    writeSuperAt(file, s, superPositions(s.pbs, s.metadataSize).super0);
    file.datasyncSync();
    repaired = true;
  }
  return { super: s, layout: logDeviceLayout(s.pbs, s.ringBufferSize, s.metadataSize), repaired };
}

function readBackup(file: DeviceFile): SuperSector | null {
  for (const pbs of [512, 1024, 2048, 4096]) {
    const b = Buffer.alloc(pbs);
    file.readSync(b, superPositions(pbs).super1);
    try {
      const s = parseSuperSector(b, { file: file.name });
      if (s.pbs === pbs) return s;
    } catch (e) {
      if (!(e instanceof FormatError || e instanceof ChecksumMismatchError)) throw e;
    }
  }
  return null;
}

function writeSuperAt(file: DeviceFile, s: SuperSector, position: number): void {
  file.writeSync(encodeSuperSector(s), position);
}

/** Writes a super sector crash-safely: super 1, sync, super 0, sync. */
export function writeSuper(file: DeviceFile, s: SuperSector): void {
  const pos = superPositions(s.pbs, s.metadataSize);
  writeSuperAt(file, s, pos.super1);
  file.datasyncSync();
  writeSuperAt(file, s, pos.super0);
  file.datasyncSync();
}

/** writeSuper without blocking the event loop. */
export async function writeSuperAsync(file: DeviceFile, s: SuperSector): Promise<void> {
  const pos = superPositions(s.pbs, s.metadataSize);
  const block = encodeSuperSector(s);
  await file.writev([block], pos.super1);
  await file.datasync();
  await file.writev([block], pos.super0);
  await file.datasync();
}
