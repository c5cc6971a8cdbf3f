/**
 * blockwal restore VOL GID -o IMAGE [--on-archive]
 * The exact image of a restorable snapshot. By default the archive streams it (ReadSnapshot) and
 * it is written here (sparse: zero chunks become holes), checked chunk by chunk, under a temp name
 * renamed at the end. With --on-archive, the archive writes IMAGE on its own host (RestoreSnapshot:
 * reflink clone of the base where the filesystem allows, then the diffs applied).
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, ftruncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { RejectedError, UsageError, formatSize } from '@blockwal/core';
import { isAllZero } from '@blockwal/native-io';
import { ChunkVerifier, fromServiceError, type blockwal } from '@blockwal/proto';
import { flag, parse, parseUint, positionals, str } from '../args.js';
import { out } from '../output.js';
import { CONNECT_OPTIONS, CONNECT_USAGE, archiveClient, connectOptions, unary } from '../cluster/connect.js';
import { archiveOf } from './snapshot.js';

export const usage = `blockwal restore VOL GID -o IMAGE [--on-archive] ${CONNECT_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { ...CONNECT_OPTIONS, output: { type: 'string', short: 'o' }, 'on-archive': { type: 'boolean' } }, usage);
  const [volume, gidText] = positionals(p, ['VOL', 'GID'], usage);
  const gid = parseUint(gidText!, 'gid');
  const output = str(p, 'output');
  if (output === undefined) throw new UsageError(`missing -o IMAGE\nusage: ${usage}`);
  const c = connectOptions(p);
  const a = await archiveOf(c, volume!);
  const client = archiveClient(c, a.address);
  try {
    if (flag(p, 'on-archive')) {
      const r = await unary(client, 'restoreSnapshot', { volume, gid, path: output }, 24 * 3600_000);
      out(`restored ${volume} gid ${gid} on archive ${a.name} to ${output}: ${formatSize(Number(r.size))}, base by ${r.baseClone}, ${r.diffsApplied} diffs applied`);
      return 0;
    }
    const r = await readSnapshotToFile(client, volume!, gid, output);
    out(`restored ${volume} gid ${gid} to ${output}: ${formatSize(r.size)}, sha256 ${r.sha256}`);
  } finally {
    client.close();
  }
  return 0;
}

/** Streams a snapshot into a local image file; returns its size and sha256. */
export async function readSnapshotToFile(client: ReturnType<typeof archiveClient>, volume: string, gid: number, file: string): Promise<{ size: number; sha256: string }> {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  const hash = createHash('sha256');
  const verify = new ChunkVerifier(`snapshot ${volume} gid ${gid}`);
  let ended = false;
  try {
    const stream = client.readSnapshot({ volume, gid });
    try {
      for await (const m of stream as AsyncIterable<blockwal.v1.ReadSnapshotResponse>) {
        if (m.chunk) {
          const at = verify.length;
          const data = verify.accept(m.chunk);
          hash.update(data);
          if (!isAllZero(data)) writeSync(fd, data, 0, data.length, at);
        } else if (m.end) {
          verify.end(m.end);
          ended = true;
        }
      }
    } catch (e) {
      if (e instanceof RejectedError) throw e;
      throw fromServiceError(e as Error, client.getChannel().getTarget());
    }
    if (!ended) throw new RejectedError('stopped', `snapshot ${volume} gid ${gid}: the stream ended without its end mark after ${verify.length} bytes`);
    ftruncateSync(fd, verify.length);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  return { size: verify.length, sha256: hash.digest('hex') };
}
