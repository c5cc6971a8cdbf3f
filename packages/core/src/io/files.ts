/**
 * Opening inputs and outputs of the format tools: `-` means stdin/stdout; an output file is
 * written under a temporary name and renamed into place only when complete (then the directory
 * is synced), so a failed run never leaves a partial file under the real name.
 */
import { closeSync, fstatSync, fsyncSync, openSync, renameSync, rmSync, unlinkSync, writeSync, constants as C } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { blockDeviceSize } from '@blockwal/native-io';
import { ioError } from '../errors.js';

export interface InputFile {
  fd: number;
  name: string;
  /** Size in bytes of a regular file or block device; null for pipes and terminals. */
  size: number | null;
  seekable: boolean;
  close(): void;
}

export function openInput(file: string): InputFile {
  if (file === '-') {
    return { fd: 0, name: 'stdin', size: null, seekable: false, close() {} };
  }
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw ioError('open', file, e);
  }
  const st = fstatSync(fd);
  if (st.isDirectory()) {
    closeSync(fd);
    throw ioError('open', file, Object.assign(new Error('is a directory'), { code: 'EISDIR' }));
  }
  const regular = st.isFile();
  return {
    fd,
    name: file,
    size: regular ? st.size : st.isBlockDevice() ? blockDeviceSize(fd) : null,
    seekable: regular || st.isBlockDevice(),
    close: () => closeSync(fd),
  };
}

export interface OutputFile {
  fd: number;
  name: string;
  /** True for stdout/pipes: write sequentially from the current position. */
  isStream: boolean;
  /** Makes the data durable and gives the file its real name. */
  commit(): void;
  /** Removes the partial file (no-op for stdout). */
  abort(): void;
}

export function createOutput(file: string): OutputFile {
  if (file === '-') {
    return { fd: 1, name: 'stdout', isStream: true, commit() {}, abort() {} };
  }
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number;
  try {
    fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
  } catch (e) {
    throw ioError('create', file, e);
  }
  let open = true;
  return {
    fd,
    name: file,
    isStream: false,
    commit() {
      try {
        fsyncSync(fd);
        closeSync(fd);
        open = false;
        renameSync(tmp, file);
        syncDir(dir);
      } catch (e) {
        throw ioError('commit', file, e);
      }
    },
    abort() {
      if (open) closeSync(fd);
      open = false;
      try {
        unlinkSync(tmp);
      } catch {
        /* already gone */
      }
    },
  };
}

/**
 * Writes a small file (metadata, state) atomically and durably: a unique temp name next to it
 * (`<file>.<hex>.tmp`), fsync, rename, fsync of the directory. On failure the temp file is
 * removed and the old file is untouched; the error is an IoError naming `file`.
 */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
    try {
      const b = Buffer.from(text, 'utf8');
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    syncDir(path.dirname(file));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw ioError('write', file, e);
  }
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Runs `fn` with an output file; commits on success, removes the partial file on failure. */
export function withOutput<T>(file: string, fn: (out: OutputFile) => T): T {
  const out = createOutput(file);
  try {
    const r = fn(out);
    out.commit();
    return r;
  } catch (e) {
    out.abort();
    throw e;
  }
}

/** Runs `fn` with an input file and closes it afterwards. */
export function withInput<T>(file: string, fn: (inp: InputFile) => T): T {
  const inp = openInput(file);
  try {
    return fn(inp);
  } finally {
    inp.close();
  }
}
