#!/usr/bin/env node
// Builds build/Release/blockwal_native.node: npm's "install" script of @blockwal/native-io, and
// runnable by hand (`node packages/native-io/scripts/build.mjs`).
//
//  1. Detects the system codec libraries (snappy, lz4, zstd, liblzma) by compiling and running a
//     tiny program against each with the C++ compiler ($CXX, else c++/g++/clang++).
//  2. Writes native/features.gypi (defines BLOCKWAL_HAVE_<CODEC> and -l<lib> for each one found).
//  3. Runs npm's bundled node-gyp (`rebuild`), offline: node headers come from npm's nodedir,
//     or from the running node's own prefix (<prefix>/include/node) when they match its version.
//  4. Loads the result once in a child process to check it.
//
// It never fails the installation: on any error it prints ONE warning line and exits 0, and
// blockwal runs on the pure-JS fallbacks. A build with the codecs that fails is retried without them.
//
// Environment:
//   BLOCKWAL_NATIVE_BUILD=0        skip the build (the addon is then absent)
//   BLOCKWAL_NATIVE_CODECS=0       build without any codec library (the "fresh machine" path);
//                                  or a comma list such as "snappy,zstd" to restrict detection
//   BLOCKWAL_NATIVE_VERBOSE=1      print compiler and node-gyp output
//   CXX, CPPFLAGS, LDFLAGS         used for detection (node-gyp's make honours them too)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FEATURES_GYPI = path.join(PKG_DIR, 'native', 'features.gypi');
const ADDON_PATH = path.join(PKG_DIR, 'build', 'Release', 'blockwal_native.node');
const LOG_PATH = path.join(PKG_DIR, 'native-build.log');
const VERBOSE = process.env.BLOCKWAL_NATIVE_VERBOSE === '1';
const PREFIX = 'blockwal native-io:';

/** Every API the addon uses from each library is referenced here, so detection = "it will link". */
const CODECS = [
  {
    name: 'snappy',
    define: 'BLOCKWAL_HAVE_SNAPPY',
    lib: 'snappy',
    program: `#include <snappy-c.h>
int main() {
  char out[64]; size_t n = sizeof out, m = 0; char back[8];
  if (snappy_compress("aaaaaaaa", 8, out, &n) != SNAPPY_OK) return 1;
  if (snappy_uncompressed_length(out, n, &m) != SNAPPY_OK || m != 8) return 1;
  m = sizeof back;
  return snappy_uncompress(out, n, back, &m) == SNAPPY_OK && snappy_max_compressed_length(8) >= n ? 0 : 1;
}`,
  },
  {
    name: 'lz4',
    define: 'BLOCKWAL_HAVE_LZ4',
    lib: 'lz4',
    program: `#include <lz4.h>
int main() {
  char out[64]; char back[8];
  int n = LZ4_compress_default("aaaaaaaa", out, 8, LZ4_compressBound(8));
  return n > 0 && LZ4_decompress_safe(out, back, n, 8) == 8 && LZ4_versionString() != 0 ? 0 : 1;
}`,
  },
  {
    name: 'zstd',
    define: 'BLOCKWAL_HAVE_ZSTD',
    lib: 'zstd',
    program: `#include <zstd.h>
#include <zstd_errors.h>
#if ZSTD_VERSION_NUMBER < 10300
#error "zstd >= 1.3 required"
#endif
int main() {
  ZSTD_CCtx* c = ZSTD_createCCtx(); ZSTD_DCtx* d = ZSTD_createDCtx();
  char out[128]; char back[8];
  size_t n = ZSTD_compressCCtx(c, out, sizeof out, "aaaaaaaa", 8, 1);
  size_t m = ZSTD_isError(n) ? 0 : ZSTD_decompressDCtx(d, back, 8, out, n);
  int bad = ZSTD_isError(n) || ZSTD_isError(m) || m != 8 || ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall
            || ZSTD_getErrorName(n) == 0 || ZSTD_versionString() == 0 || ZSTD_isError(ZSTD_compressBound(8));
  ZSTD_freeCCtx(c); ZSTD_freeDCtx(d);
  return bad;
}`,
  },
  {
    name: 'lzma',
    define: 'BLOCKWAL_HAVE_LZMA',
    lib: 'lzma',
    program: `#include <lzma.h>
int main() {
  unsigned char out[256]; unsigned char back[8]; size_t n = 0, in = 0, m = 0; uint64_t lim = 1u << 26;
  if (lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, 0, (const uint8_t*)"aaaaaaaa", 8, out, &n, sizeof out) != LZMA_OK) return 1;
  if (lzma_stream_buffer_decode(&lim, 0, 0, out, &in, n, back, &m, 8) != LZMA_OK || m != 8) return 1;
  return lzma_stream_buffer_bound(8) >= n && lzma_version_string() != 0 ? 0 : 1;
}`,
  },
];

class BuildError extends Error {}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (VERBOSE && out) process.stderr.write(out);
  return { ok: !r.error && r.status === 0, out, error: r.error };
}

function splitFlags(s) {
  return (s ?? '').split(/\s+/).filter(Boolean);
}

function findCompiler() {
  const candidates = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  for (const c of candidates) {
    const [cmd, ...pre] = splitFlags(c);
    if (cmd && run(cmd, [...pre, '--version']).ok) return [cmd, ...pre];
  }
  throw new BuildError(`no C++ compiler found (tried ${candidates.join(', ')}; set CXX)`);
}

function wantedCodecs() {
  const v = (process.env.BLOCKWAL_NATIVE_CODECS ?? '').trim().toLowerCase();
  if (v === '' || v === '1' || v === 'all') return new Set(CODECS.map((c) => c.name));
  if (v === '0' || v === 'none') return new Set();
  return new Set(v.split(',').map((s) => s.trim()));
}

function detectCodecs(compiler, log) {
  const wanted = wantedCodecs();
  const found = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockwal-detect-'));
  try {
    for (const codec of CODECS) {
      if (!wanted.has(codec.name)) {
        log.push(`codec ${codec.name}: disabled by BLOCKWAL_NATIVE_CODECS`);
        continue;
      }
      const src = path.join(dir, `${codec.name}.cc`);
      const exe = path.join(dir, `${codec.name}.out`);
      fs.writeFileSync(src, codec.program);
      const [cmd, ...pre] = compiler;
      const args = [...pre, ...splitFlags(process.env.CPPFLAGS), src, '-o', exe, ...splitFlags(process.env.LDFLAGS), `-l${codec.lib}`];
      const c = run(cmd, args);
      const ok = c.ok && run(exe, []).ok;
      log.push(`codec ${codec.name}: ${ok ? 'found' : 'not found'} (${cmd} ${args.join(' ')})${ok ? '' : `\n${c.out}`}`);
      if (ok) found.push(codec);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return found;
}

function writeFeatures(codecs) {
  const version = JSON.parse(fs.readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8')).version;
  const gypi = {
    defines: [`BLOCKWAL_ADDON_VERSION="${version}"`, ...codecs.map((c) => `${c.define}=1`)],
    libraries: codecs.map((c) => `-l${c.lib}`),
  };
  const text = `# Generated by scripts/build.mjs: the codec libraries found on this machine. Do not edit.\n${JSON.stringify(gypi, null, 2)}\n`;
  fs.writeFileSync(FEATURES_GYPI, text);
}

function exists(p) {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

function findNodeGyp() {
  const binDir = path.dirname(process.execPath);
  const candidates = [
    process.env.npm_config_node_gyp,
    // npm next to node: <prefix>/bin/node and <prefix>/lib/node_modules/npm (Unix), <dir>/node_modules/npm (Windows)
    path.join(binDir, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(binDir, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    // the npm that runs this script
    process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(Boolean);
  const hit = candidates.find(exists);
  if (!hit) throw new BuildError(`npm's node-gyp not found (looked in: ${candidates.join(', ')})`);
  return hit;
}

function headersMatchRunningNode(prefix) {
  const h = path.join(prefix, 'include', 'node', 'node_version.h');
  if (!exists(h) || !exists(path.join(prefix, 'include', 'node', 'common.gypi'))) return false;
  const text = fs.readFileSync(h, 'utf8');
  const num = (name) => text.match(new RegExp(`#define\\s+${name}\\s+(\\d+)`))?.[1];
  const v = `${num('NODE_MAJOR_VERSION')}.${num('NODE_MINOR_VERSION')}.${num('NODE_PATCH_VERSION')}`;
  return v === process.versions.node;
}

/** The node headers directory, so that node-gyp never downloads anything. */
function findNodedir(log) {
  const fromEnv = process.env.npm_config_nodedir;
  if (fromEnv) {
    log.push(`nodedir ${fromEnv} (npm_config_nodedir)`);
    return fromEnv;
  }
  const npm = run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['config', 'get', 'nodedir', '--workspaces=false'], { cwd: PKG_DIR });
  const configured = npm.ok ? npm.out.trim() : '';
  if (configured && configured !== 'undefined' && configured !== 'null') {
    log.push(`nodedir ${configured} (npm config get nodedir)`);
    return configured;
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (headersMatchRunningNode(prefix)) {
    log.push(`nodedir ${prefix} (headers next to ${process.execPath})`);
    return prefix;
  }
  log.push('nodedir: none configured; node-gyp uses its cache (and downloads headers when online)');
  return undefined;
}

function nodeGypRebuild(nodeGyp, nodedir, log) {
  const args = [nodeGyp, 'rebuild', '--release', '--jobs=max'];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const r = run(process.execPath, args, { cwd: PKG_DIR, env: { ...process.env, npm_config_loglevel: VERBOSE ? 'info' : 'warn' } });
  log.push(`$ node ${args.join(' ')}\n${r.out}`);
  if (!r.ok) {
    const lines = r.out.split('\n').map((l) => l.trim());
    const firstError = lines.find((l) => /error:|\berror\b/i.test(l) && !/^gyp (ERR|info)/.test(l)) ?? lines.find((l) => /gyp ERR!/.test(l));
    throw new BuildError(`node-gyp rebuild failed${firstError ? `: ${firstError}` : ''}`);
  }
}

function checkLoads(log) {
  const probe = `const a = require(${JSON.stringify(ADDON_PATH)}); const i = a.info();
    if (a.walbChecksum(Buffer.from([1,2,3,4,5,6,7,8])) !== 0xF3F5F7FA) throw new Error('checksum self-test failed');
    process.stdout.write(JSON.stringify(i));`;
  const r = run(process.execPath, ['-e', probe]);
  log.push(`load check: ${r.out}`);
  if (!r.ok) throw new BuildError(`the built addon does not load: ${r.out.split('\n').find((l) => l.trim()) ?? 'unknown error'}`);
  return JSON.parse(r.out);
}

function main() {
  if (process.env.BLOCKWAL_NATIVE_BUILD === '0') {
    console.log(`${PREFIX} native build skipped (BLOCKWAL_NATIVE_BUILD=0); using the pure-JS fallbacks`);
    return;
  }
  const log = [`blockwal native build ${new Date().toISOString()} node ${process.version} ${process.platform}-${process.arch}`];
  try {
    const compiler = findCompiler();
    const codecs = detectCodecs(compiler, log);
    const nodeGyp = findNodeGyp();
    const nodedir = findNodedir(log);
    writeFeatures(codecs);
    let dropped = '';
    try {
      nodeGypRebuild(nodeGyp, nodedir, log);
    } catch (e) {
      if (!(e instanceof BuildError) || codecs.length === 0) throw e;
      // A codec header that compiles alone may still break the addon: retry without codecs.
      dropped = ` (build with codecs failed: ${e.message}; built without them)`;
      writeFeatures([]);
      nodeGypRebuild(nodeGyp, nodedir, log);
    }
    const info = checkLoads(log);
    const names = Object.entries(info.codecs ?? {}).filter(([, v]) => v).map(([k]) => k);
    console.log(`${PREFIX} built ${path.relative(process.cwd(), ADDON_PATH) || ADDON_PATH} with codecs: ${names.length ? names.join(', ') : 'none'}${dropped}`);
  } catch (e) {
    const reason = e instanceof BuildError ? e.message : `unexpected error: ${e?.stack ?? e}`;
    const then = exists(ADDON_PATH)
      ? `the previous ${path.relative(PKG_DIR, ADDON_PATH)} stays in use`
      : 'blockwal will use its pure-JS fallbacks';
    console.warn(`${PREFIX} WARNING: native addon not built (${reason}; log: ${LOG_PATH}); ${then}`);
  } finally {
    try {
      fs.writeFileSync(LOG_PATH, `${log.join('\n')}\n`);
    } catch {
      // a read-only install directory: no log
    }
  }
}

main();
