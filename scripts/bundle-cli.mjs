// Bundles the blockwal command (cli + core + servers) into packages/cli/dist/blockwal.mjs and
// shared chunks next to it (chunk-*.mjs): loading a few modules instead of ~70 saves about 70 ms
// at every start. The bundle is split at the commands' dynamic imports, so a format tool loads
// only the format code, never gRPC, protobufjs, pino or prom-client (0.3 s of start-up).
// native-io (it finds its addon relative to itself) and the npm codec packages stay external.
// The archive's worker-thread entry is bundled next to it, packages/cli/dist/archive-worker.mjs:
// the archive looks for `archive-worker<ext>` next to its own module (packages/archive/src/worker-pool.ts).
import { build } from 'esbuild';
import { readFileSync, readdirSync, rmSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['blockwal-source'],
  // Packages that find files relative to themselves at run time (the native addon, codec
  // binaries, grpc-health-check's .proto, pino's workers) stay external.
  external: ['@blockwal/native-io', 'snappy', 'lz4-napi', 'zstd-napi', 'lzma-native', '@grpc/grpc-js', 'grpc-health-check', 'pino', 'prom-client', 'protobufjs'],
  // Bundled CommonJS dependencies (yaml, …) require() Node's modules: give the ESM bundle a require.
  banner: { js: "import { createRequire as __bwCreateRequire } from 'node:module'; const require = __bwCreateRequire(import.meta.url);" },
  // No keepNames: it wraps every function and class creation in a defineProperty call, which cost
  // 25 % of a wdiff redo of 4 KiB records (closures made per record). Names then survive unless
  // two top-level names collide in one chunk; errors are told apart by name (worker threads,
  // logs), so the build fails below if an error class was renamed.
  keepNames: false,
  sourcemap: true,
  logLevel: 'warning',
};

const outdir = 'packages/cli/dist';
for (const f of readdirSync(outdir, { withFileTypes: true })) if (f.isFile() && /^chunk-.*\.mjs(\.map)?$/.test(f.name)) rmSync(`${outdir}/${f.name}`);
await build({
  ...common,
  entryPoints: { blockwal: 'packages/cli/src/main.ts', 'archive-worker': 'packages/archive/src/archive-worker.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  splitting: true,
  // Chunks sit next to the entries: the archive finds its worker next to its own module.
  chunkNames: 'chunk-[hash]',
});

// Error classes must keep their names (BlockwalError sets name = new.target.name; wire-error.ts
// rebuilds worker errors by name): esbuild renames a top-level class only on a collision.
for (const f of readdirSync(outdir)) {
  if (!f.endsWith('.mjs')) continue;
  const text = readFileSync(`${outdir}/${f}`, 'utf8');
  for (const m of text.matchAll(/\bvar ([A-Z]\w*Error)(\d+) = class\b/g)) {
    if (m[1] === 'YAMLParseError') continue; // the yaml package names its errors itself
    throw new Error(`${f}: the bundle renamed the error class ${m[1]} to ${m[1]}${m[2]} (two classes of that name in one chunk): rename one of them`);
  }
}
