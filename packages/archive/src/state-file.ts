/**
 * The volume record: what `<dir>/volumes/<vol>/state.json` holds, and its text form.
 *
 * ```json
 * {
 *   "version": 1,
 *   "volume": "vol0",
 *   "state": "archived",                      // or "full-sync"
 *   "sizeBytes": 67108864,                    // of the base image (null before the first full sync ends)
 *   "deviceUuid": "<32 hex>",                 // the lineage the diffs must carry (null: none yet)
 *   "archiveUuid": "<32 hex>",                // new on every full sync (null: none yet)
 *   "base": "<|0,12|>-20240101000000",        // MetaState of base.img, with its timestamp (null: no base)
 *   "fullSync": {                             // the copy in progress (null: none)
 *     "deviceUuid": "<32 hex>", "sizeBytes": 67108864, "gidB": 0, "chunkBytes": 1048576,
 *     "doneBytes": 8388608,                   // every byte below is in base.img.sync, fsynced
 *     "complete": { "snapshot": "|0,12|", "timestamp": 1700000000 }   // set once the copy is whole
 *   }
 * }
 * ```
 * The top-level fields describe the archived lineage (base.img and diffs/), which stays readable
 * while a new copy is made; `fullSync` describes the copy. Parsing checks every field: a bad file
 * is a FormatError naming it (the server then refuses to start, as walb-tools does).
 */
import { FormatError, formatMetaSnap, formatMetaState, formatUtcTimestamp, parseMetaSnap, parseMetaState, uuidFromHex, uuidToHex, NAME_PATTERN, type MetaSnap, type MetaState } from '@blockwal/core';

export const STATE_FILE_VERSION = 1;

/** Persisted states: `full-sync` (a copy is being made; diffs are refused with `syncing`), `archived`. */
export type VolumeState = 'full-sync' | 'archived';

export interface FullSyncProgress {
  readonly deviceUuid: Uint8Array;
  readonly sizeBytes: number;
  readonly gidB: number;
  readonly chunkBytes: number;
  /** Every byte below this offset is in the sync image and durable. */
  readonly doneBytes: number;
  /** The copy is whole and durable: what is left is to make it the base (rolled forward at start-up). */
  readonly complete: { readonly snapshot: MetaSnap; readonly timestamp: number } | null;
}

export interface VolumeRecord {
  readonly volume: string;
  readonly state: VolumeState;
  readonly sizeBytes: number | null;
  readonly deviceUuid: Uint8Array | null;
  readonly archiveUuid: Uint8Array | null;
  readonly base: MetaState | null;
  readonly fullSync: FullSyncProgress | null;
}

export function formatVolumeRecord(r: VolumeRecord): string {
  const hex = (u: Uint8Array | null) => (u === null ? null : uuidToHex(u));
  const fs = r.fullSync;
  const json = {
    version: STATE_FILE_VERSION,
    volume: r.volume,
    state: r.state,
    sizeBytes: r.sizeBytes,
    deviceUuid: hex(r.deviceUuid),
    archiveUuid: hex(r.archiveUuid),
    base: r.base === null ? null : `${formatMetaState(r.base)}-${formatUtcTimestamp(r.base.timestamp)}`,
    fullSync:
      fs === null
        ? null
        : {
            deviceUuid: uuidToHex(fs.deviceUuid),
            sizeBytes: fs.sizeBytes,
            gidB: fs.gidB,
            chunkBytes: fs.chunkBytes,
            doneBytes: fs.doneBytes,
            complete: fs.complete === null ? null : { snapshot: formatMetaSnap(fs.complete.snapshot), timestamp: fs.complete.timestamp },
          },
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/** Parses a state file's text; FormatError naming `file` and the bad field. */
export function parseVolumeRecord(text: string, file: string): VolumeRecord {
  const fail = (what: string): never => {
    throw new FormatError(what, { file });
  };
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return fail(`not JSON: ${(e as Error).message}`);
  }
  if (typeof j !== 'object' || j === null) return fail('not a JSON object');
  if (j.version !== STATE_FILE_VERSION) fail(`version must be ${STATE_FILE_VERSION}, got ${String(j.version)}`);
  const str = (o: Record<string, unknown>, k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : fail(`${k} must be a string`));
  const count = (o: Record<string, unknown>, k: string): number => {
    const v = o[k];
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(`${k} must be an integer >= 0`);
  };
  const nullable = <T>(v: unknown, f: () => T): T | null => (v === null || v === undefined ? null : f());
  const uuid = (o: Record<string, unknown>, k: string): Uint8Array => {
    try {
      return uuidFromHex(str(o, k));
    } catch (e) {
      return e instanceof FormatError ? fail(e.what) : fail(`${k}: ${(e as Error).message}`);
    }
  };
  const guard = <T>(k: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      return fail(`${k}: ${e instanceof FormatError ? e.what : (e as Error).message}`);
    }
  };
  const volume = str(j, 'volume');
  if (!NAME_PATTERN.test(volume)) fail(`volume '${volume}' is not a valid name`);
  const state = str(j, 'state');
  if (state !== 'full-sync' && state !== 'archived') fail(`state must be 'full-sync' or 'archived', got '${state}'`);
  const fsj = j.fullSync as Record<string, unknown> | null | undefined;
  const fullSync = nullable(fsj, (): FullSyncProgress => {
    const o = fsj!;
    const c = o.complete as Record<string, unknown> | null | undefined;
    const p: FullSyncProgress = {
      deviceUuid: uuid(o, 'deviceUuid'),
      sizeBytes: count(o, 'sizeBytes'),
      gidB: count(o, 'gidB'),
      chunkBytes: count(o, 'chunkBytes'),
      doneBytes: count(o, 'doneBytes'),
      complete: nullable(c, () => ({ snapshot: guard('complete.snapshot', () => parseMetaSnap(str(c!, 'snapshot'))), timestamp: count(c!, 'timestamp') })),
    };
    if (p.doneBytes > p.sizeBytes) fail(`fullSync.doneBytes ${p.doneBytes} is beyond sizeBytes ${p.sizeBytes}`);
    return p;
  });
  const rec: VolumeRecord = {
    volume,
    state: state as VolumeState,
    sizeBytes: nullable(j.sizeBytes, () => count(j, 'sizeBytes')),
    deviceUuid: nullable(j.deviceUuid, () => uuid(j, 'deviceUuid')),
    archiveUuid: nullable(j.archiveUuid, () => uuid(j, 'archiveUuid')),
    base: nullable(j.base, () => guard('base', () => parseMetaState(str(j, 'base'), 0))),
    fullSync,
  };
  if (rec.base !== null && (rec.sizeBytes === null || rec.deviceUuid === null || rec.archiveUuid === null)) {
    fail('a volume with a base needs sizeBytes, deviceUuid and archiveUuid');
  }
  if (state === 'archived' && rec.base === null) fail("state 'archived' needs a base");
  if (state === 'full-sync' && fullSync === null) fail("state 'full-sync' needs fullSync");
  return rec;
}
