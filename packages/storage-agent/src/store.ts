/**
 * The agent's disk layout:
 *   <dir>/volumes/<vol>/state.json   the volume record (temp -> fsync -> rename -> fsync dir)
 *   <dir>/volumes/<vol>/data.img     data device of a volume created by AddVolume
 *   <dir>/volumes/<vol>/log.img      its WalB log device
 * Temp files (*.tmp) are deleted at start-up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { NAME_PATTERN, ioError, syncDir, writeFileAtomic } from '@blockwal/core';
import type { VolumeRecord } from './state.js';

const STATE_FILE = 'state.json';

export class VolumeStore {
  readonly root: string;

  constructor(dir: string) {
    this.root = path.join(dir, 'volumes');
    fs.mkdirSync(this.root, { recursive: true });
  }

  volumeDir(volume: string): string {
    return path.join(this.root, volume);
  }

  dataPath(volume: string): string {
    return path.join(this.volumeDir(volume), 'data.img');
  }

  logPath(volume: string): string {
    return path.join(this.volumeDir(volume), 'log.img');
  }

  has(volume: string): boolean {
    return fs.existsSync(path.join(this.volumeDir(volume), STATE_FILE));
  }

  /** Creates the volume's directory (and makes its entry durable). */
  createDir(volume: string): string {
    const d = this.volumeDir(volume);
    fs.mkdirSync(d, { recursive: true });
    syncDir(this.root);
    return d;
  }

  /** Volumes with a state file; leftover temp files are removed. */
  list(): string[] {
    const out: string[] = [];
    for (const name of fs.readdirSync(this.root).sort()) {
      if (!NAME_PATTERN.test(name)) continue;
      const d = this.volumeDir(name);
      for (const f of fs.readdirSync(d)) if (f.endsWith('.tmp')) fs.rmSync(path.join(d, f), { force: true });
      if (fs.existsSync(path.join(d, STATE_FILE))) out.push(name);
    }
    return out;
  }

  load(volume: string): VolumeRecord {
    const f = path.join(this.volumeDir(volume), STATE_FILE);
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (e) {
      throw ioError('read', f, e);
    }
    const rec = JSON.parse(text) as VolumeRecord;
    if (rec.version !== 1 || rec.volume !== volume) throw new Error(`${f}: not a version-1 state of volume ${volume}`);
    return rec;
  }

  /** Writes the record atomically and durably. */
  save(rec: VolumeRecord): void {
    writeFileAtomic(path.join(this.volumeDir(rec.volume), STATE_FILE), JSON.stringify(rec, null, 2) + '\n');
  }

}
