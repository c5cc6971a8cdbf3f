/** nativeInfo(): what `blockwal version` prints about the native layer. */
import { directIoAvailable } from './files.js';
import { nativeCodecs, type NativeCodecs } from './codecs.js';
import { loaded } from './native.js';

export interface NativeInfo {
  /** The addon is loaded and used. */
  loaded: boolean;
  /** Why not, when it is not (not built, failed to load, disabled by BLOCKWAL_NATIVE=0). */
  reason?: string;
  /** Where the addon is (or was looked for). */
  path: string;
  addonVersion?: string;
  napiVersion?: number;
  compiler?: string;
  /** Native codecs compiled in (the system libraries found at build time). */
  codecs: NativeCodecs;
  /** Versions of those libraries. */
  codecVersions: Partial<Record<keyof NativeCodecs, string>>;
  /** O_DIRECT with aligned buffers is available. */
  directIo: boolean;
  /** allocAligned() really aligns. */
  alignedBuffers: boolean;
  /** fallocate punch-hole / zero-range (else zeros are written). */
  fallocate: boolean;
  /** FICLONE can be tried (else reflink() is always false). */
  reflink: boolean;
  /** BLKGETSIZE64/BLKPBSZGET/BLKDISCARD and the WalB ioctls can be called. */
  ioctls: boolean;
  /** Which WalB checksum implementation runs on large buffers. */
  checksum: 'native' | 'js';
}

export function nativeInfo(): NativeInfo {
  const b = loaded.build;
  const on = loaded.binding !== null;
  const linux = on && (b?.linux ?? false);
  const info: NativeInfo = {
    loaded: on,
    path: loaded.path,
    codecs: { ...nativeCodecs },
    codecVersions: on ? { ...(b?.codecVersions ?? {}) } : {},
    directIo: directIoAvailable,
    alignedBuffers: on,
    fallocate: linux,
    reflink: linux,
    ioctls: linux,
    checksum: on ? 'native' : 'js',
  };
  if (loaded.reason !== undefined) info.reason = loaded.reason;
  if (b !== undefined) {
    info.addonVersion = b.addonVersion;
    info.napiVersion = b.napiVersion;
    info.compiler = b.compiler;
  }
  return info;
}
