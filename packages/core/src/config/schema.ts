/**
 * The cluster config: one YAML file describing any number of storage agents, proxies and
 * archives. `blockwal up` runs all of them; `blockwal storage|proxy|archive --config FILE
 * [--name NAME]` runs one. Units are in the key names (…Bytes, …Ms); sizes and durations may be
 * written with units ("128MiB", "10s"). Unknown keys are errors (a typo must not pass silently).
 */
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

const size = z.union([
  z.number().int().nonnegative(),
  z.string().transform((s, ctx) => {
    const v = parseSize(s);
    if (v === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${s}" is not a size (e.g. 65536, "128MiB", "4 GiB")` });
      return z.NEVER;
    }
    return v;
  }),
]);

const duration = z.union([
  z.number().int().nonnegative(),
  z.string().transform((s, ctx) => {
    const v = parseDuration(s);
    if (v === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${s}" is not a duration (e.g. 250, "250ms", "10s", "5m")` });
      return z.NEVER;
    }
    return v;
  }),
]);

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const name = z.string().regex(NAME_PATTERN, 'must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}');

/** host:port, [v6]:port, or unix:/path (gRPC); port 0 binds any free port. */
const address = z.string().regex(/^(unix:.+|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]*):\d{1,5})$/, 'must be host:port, [v6]:port or unix:/path');
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]*):\d{1,5}$/, 'must be host:port');

export const tlsSchema = z
  .object({
    /** PEM certificate of this server (and of its client side). */
    certFile: z.string(),
    keyFile: z.string(),
    /** PEM CA bundle that peers' certificates must chain to (mutual TLS). */
    caFile: z.string(),
  })
  .strict();

const compression = z.enum(['none', 'snappy', 'gzip', 'lzma', 'lz4', 'zstd']);

const peer = z.object({ name, address }).strict();

export const storageSchema = z
  .object({
    name: name.default('s0'),
    listen: address.default('127.0.0.1:7101'),
    /** Prometheus metrics (HTTP); null disables. */
    metricsListen: hostPort.nullable().default('127.0.0.1:9101'),
    /** Default: <dataDir>/<name>. */
    dir: z.string().optional(),
    /** Where the WAL devices of the volumes are served (NBD, one export per volume). */
    nbdListen: hostPort.default('127.0.0.1:10809'),
    /** Proxies in priority order: wlogs go to the first healthy one. */
    proxies: z.array(peer).min(1),
    /** The primary archive: full backups go there; `snapshot --wait` asks it. */
    archive: peer,
    /** Log device size of a new volume (default: an eighth of the volume, at least 64 MiB, at most 4 GiB). */
    logSizeBytes: size.optional(),
    /** What a full log ring does: 'overflow' (as WalB) or 'block' writes until log is shipped. */
    overflowPolicy: z.enum(['overflow', 'block']).default('overflow'),
    /**
     * Writes logged but not yet applied to the data device, per volume, are bounded by this
     * (writers wait beyond it): the largest part of the agent's memory under small random writes.
     */
    pendingMaxBytes: size.default(32 * 1024 * 1024),
    /** Implicit snapshots cut the log at least this often while it grows. */
    snapshotIntervalMs: duration.default(10_000),
    /** Largest wlog chunk shipped at once (WalB's -wl). */
    chunkMaxBytes: size.default(128 * 1024 * 1024),
    /** Wait after a failed transfer: doubles from min to max, with jitter. */
    retryMinMs: duration.default(1000),
    retryMaxMs: duration.default(300_000),
    /** How long a proxy is skipped after it failed. */
    proxyDownMs: duration.default(5000),
    /** Chunk size of a full backup's stream. */
    fullSyncChunkBytes: size.default(1024 * 1024),
    /** Full-backup read rate limit in bytes per second (0: none). */
    fullSyncBytesPerSec: size.default(0),
  })
  .strict();

export const proxyArchiveSchema = z
  .object({
    name,
    address,
    /** Compression of the wdiffs sent to this archive. */
    compression: compression.default('snappy'),
    compressionLevel: z.number().int().min(0).max(9).default(0),
    /** Hold diffs this long before sending (lets small diffs merge). */
    sendDelayMs: duration.default(0),
  })
  .strict();

export const proxySchema = z
  .object({
    name: name.default('p0'),
    listen: address.default('127.0.0.1:7201'),
    metricsListen: hostPort.nullable().default('127.0.0.1:9201'),
    dir: z.string().optional(),
    /** Archives every volume's diffs are forwarded to. */
    archives: z.array(proxyArchiveSchema).min(1),
    /** Spool size limit (0: only free disk space); beyond it wlogs are refused with no-space. */
    quotaBytes: size.default(0),
    /** Free disk space always left alone. */
    minFreeBytes: size.default(256 * 1024 * 1024),
    /** Compression of the wdiffs in the spool. */
    spoolCompression: compression.default('snappy'),
    /** Merging on the way out: at most this many bytes / diffs into one (WalB -wd / -wn). */
    mergeMaxBytes: size.default(128 * 1024 * 1024),
    mergeMaxDiffs: z.number().int().min(1).default(1000),
    retryMinMs: duration.default(1000),
    retryMaxMs: duration.default(300_000),
  })
  .strict();

export const archiveSchema = z
  .object({
    name: name.default('a0'),
    listen: address.default('127.0.0.1:7301'),
    metricsListen: hostPort.nullable().default('127.0.0.1:9301'),
    dir: z.string().optional(),
    /** Where RestoreSnapshot may write images (default: <dir>/restored); paths outside are refused. */
    restoreDir: z.string().optional(),
    /** Chunk size of ReadSnapshot streams. */
    readChunkBytes: size.default(1024 * 1024),
    /**
     * Background merging of implicit snapshots: runs of mergeable diffs whose snapshots are at
     * least this old are merged into one diff (0 disables merging).
     */
    mergeAfterMs: duration.default(60_000),
    /** The largest diff a merge makes (estimated by the sum of its inputs). */
    mergeMaxBytes: size.default(1024 * 1024 * 1024),
    /** Worker threads for restores, merges and verifying received diffs (0: run them inline, for debugging). */
    workerThreads: z.number().int().min(0).max(16).default(1),
  })
  .strict();

export const clusterSchema = z
  .object({
    /** Root of every server's directory that is not set explicitly. */
    dataDir: z.string().default('./blockwal-data'),
    /** Mutual TLS for every server and client (optional). */
    tls: tlsSchema.optional(),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).strict().default({}),
    storage: z.array(storageSchema).default([]),
    proxies: z.array(proxySchema).default([]),
    archives: z.array(archiveSchema).default([]),
  })
  .strict();

export type TlsConfig = z.output<typeof tlsSchema>;
export type StorageConfigInput = z.input<typeof storageSchema>;
export type ClusterConfigInput = z.input<typeof clusterSchema>;
type Dir<T> = Omit<T, 'dir'> & { dir: string; tls?: TlsConfig };
export type StorageConfig = Dir<z.output<typeof storageSchema>>;
export type ProxyConfig = Dir<z.output<typeof proxySchema>>;
export type ProxyArchiveConfig = z.output<typeof proxyArchiveSchema>;
export type ArchiveConfig = Dir<z.output<typeof archiveSchema>> & { restoreDir: string };
export interface ClusterConfig {
  dataDir: string;
  tls?: TlsConfig;
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  storage: StorageConfig[];
  proxies: ProxyConfig[];
  archives: ArchiveConfig[];
}
