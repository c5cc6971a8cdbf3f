// Codecs of the system libraries found at build time (scripts/build.mjs defines
// BLOCKWAL_HAVE_SNAPPY / _LZ4 / _ZSTD / _LZMA). Every function writes into caller-provided buffers:
// no allocation per call (the zstd contexts are created once per thread and reused).
//
// Contract shared by all codecs:
//   xxxCompress(src, dst[, level]) -> bytes written into dst; 0 when the result does not fit in
//     dst (snappy instead requires dst.length >= snappyMaxCompressedLength(src.length)).
//   xxxUncompress(src, dst) -> dst.length; the payload must decode to exactly dst.length bytes,
//     otherwise (corrupt input, shorter or longer output) it throws ERR_BLOCKWAL_CODEC.
#include "common.h"

#include <cstdio>
#include <cstring>

#if defined(BLOCKWAL_HAVE_SNAPPY)
#include <snappy-c.h>
#if defined(__has_include)
#if __has_include(<snappy-stubs-public.h>)
#include <snappy-stubs-public.h>
#endif
#endif
#endif
#if defined(BLOCKWAL_HAVE_LZ4)
#include <lz4.h>
#endif
#if defined(BLOCKWAL_HAVE_ZSTD)
#include <zstd.h>
#include <zstd_errors.h>
#endif
#if defined(BLOCKWAL_HAVE_LZMA)
#include <lzma.h>
#endif

namespace blockwal {

namespace {

#define BW_STR2(x) #x
#define BW_STR(x) BW_STR2(x)

bool GetTwoBuffers(napi_env env, napi_callback_info info, size_t n, napi_value* argv, Bytes* src, Bytes* dst) {
  if (!GetArgs(env, info, n, argv)) return false;
  return GetBytes(env, argv[0], "src", src) && GetBytes(env, argv[1], "dst", dst);
}

bool GetLength(napi_env env, napi_callback_info info, int64_t* n) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return false;
  return GetSafeIndex(env, argv[0], "length", n);
}

napi_value SizeMismatch(napi_env env, const char* codec, size_t got, size_t expected) {
  char msg[160];
  snprintf(msg, sizeof msg, "decoded %zu bytes, expected %zu", got, expected);
  return ThrowCodec(env, codec, msg);
}

// ---------------------------------------------------------------- snappy
#if defined(BLOCKWAL_HAVE_SNAPPY)

napi_value JsSnappyMaxCompressedLength(napi_env env, napi_callback_info info) {
  int64_t n = 0;
  if (!GetLength(env, info, &n)) return nullptr;
  return MakeNumber(env, static_cast<double>(snappy_max_compressed_length(static_cast<size_t>(n))));
}

napi_value JsSnappyCompress(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 2, argv, &src, &dst)) return nullptr;
  if (src.length > 0xFFFFFFFFu) return ThrowRangeError(env, "snappy: src longer than 4 GiB - 1");
  if (dst.length < snappy_max_compressed_length(src.length))
    return ThrowRangeError(env, "snappy: dst must be at least snappyMaxCompressedLength(src.length) bytes");
  size_t outLen = dst.length;
  snappy_status st = snappy_compress(reinterpret_cast<const char*>(src.data), src.length,
                                     reinterpret_cast<char*>(dst.data), &outLen);
  if (st != SNAPPY_OK) return ThrowCodec(env, "snappy", "compression failed");
  return MakeNumber(env, static_cast<double>(outLen));
}

napi_value JsSnappyUncompress(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 2, argv, &src, &dst)) return nullptr;
  size_t expected = 0;
  const char* in = reinterpret_cast<const char*>(src.data);
  if (snappy_uncompressed_length(in, src.length, &expected) != SNAPPY_OK)
    return ThrowCodec(env, "snappy", "invalid compressed data (bad length header)");
  if (expected != dst.length) return SizeMismatch(env, "snappy", expected, dst.length);
  size_t outLen = dst.length;
  if (snappy_uncompress(in, src.length, reinterpret_cast<char*>(dst.data), &outLen) != SNAPPY_OK)
    return ThrowCodec(env, "snappy", "invalid compressed data");
  if (outLen != dst.length) return SizeMismatch(env, "snappy", outLen, dst.length);
  return MakeNumber(env, static_cast<double>(outLen));
}

#endif

// ---------------------------------------------------------------- lz4
#if defined(BLOCKWAL_HAVE_LZ4)

napi_value JsLz4MaxCompressedLength(napi_env env, napi_callback_info info) {
  int64_t n = 0;
  if (!GetLength(env, info, &n)) return nullptr;
  if (n > LZ4_MAX_INPUT_SIZE) return ThrowRangeError(env, "lz4: input longer than LZ4_MAX_INPUT_SIZE");
  return MakeNumber(env, LZ4_compressBound(static_cast<int>(n)));
}

napi_value JsLz4Compress(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 2, argv, &src, &dst)) return nullptr;
  if (src.length > static_cast<size_t>(LZ4_MAX_INPUT_SIZE))
    return ThrowRangeError(env, "lz4: input longer than LZ4_MAX_INPUT_SIZE");
  int cap = dst.length > 0x7FFFFFFFu ? 0x7FFFFFFF : static_cast<int>(dst.length);
  // Returns 0 when the output does not fit in dst: that is our "did not fit" result too.
  int n = LZ4_compress_default(reinterpret_cast<const char*>(src.data), reinterpret_cast<char*>(dst.data),
                               static_cast<int>(src.length), cap);
  return MakeNumber(env, n);
}

napi_value JsLz4Uncompress(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 2, argv, &src, &dst)) return nullptr;
  if (src.length > 0x7FFFFFFFu || dst.length > 0x7FFFFFFFu) return ThrowRangeError(env, "lz4: buffer longer than 2 GiB");
  int n = LZ4_decompress_safe(reinterpret_cast<const char*>(src.data), reinterpret_cast<char*>(dst.data),
                              static_cast<int>(src.length), static_cast<int>(dst.length));
  if (n < 0) return ThrowCodec(env, "lz4", "invalid compressed data (or it decodes to more than dst.length bytes)");
  if (static_cast<size_t>(n) != dst.length) return SizeMismatch(env, "lz4", static_cast<size_t>(n), dst.length);
  return MakeNumber(env, n);
}

#endif

// ---------------------------------------------------------------- zstd
#if defined(BLOCKWAL_HAVE_ZSTD)

napi_value JsZstdMaxCompressedLength(napi_env env, napi_callback_info info) {
  int64_t n = 0;
  if (!GetLength(env, info, &n)) return nullptr;
  size_t bound = ZSTD_compressBound(static_cast<size_t>(n));
  if (ZSTD_isError(bound)) return ThrowRangeError(env, "zstd: input too long");
  return MakeNumber(env, static_cast<double>(bound));
}

napi_value JsZstdCompress(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 3, argv, &src, &dst)) return nullptr;
  int32_t level = 0;
  if (!GetInt32(env, argv[2], "level", &level)) return nullptr;
  InstanceData* d = GetInstanceData(env);
  if (d->zstdCctx == nullptr) d->zstdCctx = ZSTD_createCCtx();
  if (d->zstdCctx == nullptr) return ThrowCodec(env, "zstd", "cannot create a compression context");
  size_t r = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(d->zstdCctx), dst.data, dst.length, src.data, src.length, level);
  if (ZSTD_isError(r)) {
    if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall) return MakeNumber(env, 0);
    return ThrowCodec(env, "zstd", ZSTD_getErrorName(r));
  }
  return MakeNumber(env, static_cast<double>(r));
}

napi_value JsZstdUncompress(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 2, argv, &src, &dst)) return nullptr;
  InstanceData* d = GetInstanceData(env);
  if (d->zstdDctx == nullptr) d->zstdDctx = ZSTD_createDCtx();
  if (d->zstdDctx == nullptr) return ThrowCodec(env, "zstd", "cannot create a decompression context");
  size_t r = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(d->zstdDctx), dst.data, dst.length, src.data, src.length);
  if (ZSTD_isError(r)) {
    if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
      return ThrowCodec(env, "zstd", "the payload decodes to more than dst.length bytes");
    return ThrowCodec(env, "zstd", ZSTD_getErrorName(r));
  }
  if (r != dst.length) return SizeMismatch(env, "zstd", r, dst.length);
  return MakeNumber(env, static_cast<double>(r));
}

#endif

// ---------------------------------------------------------------- lzma (.xz container)
#if defined(BLOCKWAL_HAVE_LZMA)

// Decoder memory cap. walb-tools uses 16 MiB (so it cannot read presets 7..9); reading is more
// liberal here: 256 MiB covers every xz preset (9 needs ~65 MiB) and bounds hostile headers.
constexpr uint64_t kLzmaDecoderMemlimit = 256ull << 20;

const char* LzmaRetName(lzma_ret r) {
  switch (r) {
    case LZMA_MEM_ERROR: return "LZMA_MEM_ERROR";
    case LZMA_MEMLIMIT_ERROR: return "LZMA_MEMLIMIT_ERROR";
    case LZMA_FORMAT_ERROR: return "LZMA_FORMAT_ERROR (not an .xz stream)";
    case LZMA_OPTIONS_ERROR: return "LZMA_OPTIONS_ERROR";
    case LZMA_DATA_ERROR: return "LZMA_DATA_ERROR (corrupt data)";
    case LZMA_BUF_ERROR: return "LZMA_BUF_ERROR (truncated input or output larger than dst)";
    case LZMA_PROG_ERROR: return "LZMA_PROG_ERROR";
    case LZMA_UNSUPPORTED_CHECK: return "LZMA_UNSUPPORTED_CHECK";
    default: return "lzma error";
  }
}

napi_value JsLzmaMaxCompressedLength(napi_env env, napi_callback_info info) {
  int64_t n = 0;
  if (!GetLength(env, info, &n)) return nullptr;
  size_t bound = lzma_stream_buffer_bound(static_cast<size_t>(n));
  if (bound == 0) return ThrowRangeError(env, "lzma: input too long");
  return MakeNumber(env, static_cast<double>(bound));
}

napi_value JsLzmaCompress(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 3, argv, &src, &dst)) return nullptr;
  uint32_t preset = 0;
  if (!GetUint32(env, argv[2], "preset", &preset)) return nullptr;
  if (preset > 9) return ThrowRangeError(env, "lzma: preset must be 0..9");
  size_t outPos = 0;
  lzma_ret r = lzma_easy_buffer_encode(preset, LZMA_CHECK_CRC64, nullptr, src.data, src.length, dst.data, &outPos,
                                       dst.length);
  if (r == LZMA_BUF_ERROR) return MakeNumber(env, 0);
  if (r != LZMA_OK) return ThrowCodec(env, "lzma", LzmaRetName(r));
  return MakeNumber(env, static_cast<double>(outPos));
}

napi_value JsLzmaUncompress(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Bytes src, dst;
  if (!GetTwoBuffers(env, info, 2, argv, &src, &dst)) return nullptr;
  uint64_t memlimit = kLzmaDecoderMemlimit;
  size_t inPos = 0, outPos = 0;
  lzma_ret r = lzma_stream_buffer_decode(&memlimit, 0, nullptr, src.data, &inPos, src.length, dst.data, &outPos,
                                         dst.length);
  if (r != LZMA_OK) return ThrowCodec(env, "lzma", LzmaRetName(r));
  if (inPos != src.length) return ThrowCodec(env, "lzma", "trailing bytes after the .xz stream");
  if (outPos != dst.length) return SizeMismatch(env, "lzma", outPos, dst.length);
  return MakeNumber(env, static_cast<double>(outPos));
}

#endif

}  // namespace

void FreeCodecState(InstanceData* d) {
#if defined(BLOCKWAL_HAVE_ZSTD)
  if (d->zstdCctx != nullptr) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(d->zstdCctx));
  if (d->zstdDctx != nullptr) ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(d->zstdDctx));
#endif
  d->zstdCctx = nullptr;
  d->zstdDctx = nullptr;
}

void DescribeCodecs(napi_env env, napi_value info) {
  napi_value codecs = nullptr;
  napi_value versions = nullptr;
  napi_create_object(env, &codecs);
  napi_create_object(env, &versions);
#if defined(BLOCKWAL_HAVE_SNAPPY)
  SetNamed(env, codecs, "snappy", MakeBool(env, true));
#if defined(SNAPPY_MAJOR)
  SetNamed(env, versions, "snappy",
           MakeString(env, BW_STR(SNAPPY_MAJOR) "." BW_STR(SNAPPY_MINOR) "." BW_STR(SNAPPY_PATCHLEVEL)));
#else
  SetNamed(env, versions, "snappy", MakeString(env, "unknown"));
#endif
#else
  SetNamed(env, codecs, "snappy", MakeBool(env, false));
#endif
#if defined(BLOCKWAL_HAVE_LZ4)
  SetNamed(env, codecs, "lz4", MakeBool(env, true));
  SetNamed(env, versions, "lz4", MakeString(env, LZ4_versionString()));
#else
  SetNamed(env, codecs, "lz4", MakeBool(env, false));
#endif
#if defined(BLOCKWAL_HAVE_ZSTD)
  SetNamed(env, codecs, "zstd", MakeBool(env, true));
  SetNamed(env, versions, "zstd", MakeString(env, ZSTD_versionString()));
#else
  SetNamed(env, codecs, "zstd", MakeBool(env, false));
#endif
#if defined(BLOCKWAL_HAVE_LZMA)
  SetNamed(env, codecs, "lzma", MakeBool(env, true));
  SetNamed(env, versions, "lzma", MakeString(env, lzma_version_string()));
#else
  SetNamed(env, codecs, "lzma", MakeBool(env, false));
#endif
  SetNamed(env, info, "codecs", codecs);
  SetNamed(env, info, "codecVersions", versions);
}

void RegisterCodecs(napi_env env, napi_value exports) {
#if defined(BLOCKWAL_HAVE_SNAPPY)
  ExportFunction(env, exports, "snappyMaxCompressedLength", JsSnappyMaxCompressedLength);
  ExportFunction(env, exports, "snappyCompress", JsSnappyCompress);
  ExportFunction(env, exports, "snappyUncompress", JsSnappyUncompress);
#endif
#if defined(BLOCKWAL_HAVE_LZ4)
  ExportFunction(env, exports, "lz4MaxCompressedLength", JsLz4MaxCompressedLength);
  ExportFunction(env, exports, "lz4Compress", JsLz4Compress);
  ExportFunction(env, exports, "lz4Uncompress", JsLz4Uncompress);
#endif
#if defined(BLOCKWAL_HAVE_ZSTD)
  ExportFunction(env, exports, "zstdMaxCompressedLength", JsZstdMaxCompressedLength);
  ExportFunction(env, exports, "zstdCompress", JsZstdCompress);
  ExportFunction(env, exports, "zstdUncompress", JsZstdUncompress);
#endif
#if defined(BLOCKWAL_HAVE_LZMA)
  ExportFunction(env, exports, "lzmaMaxCompressedLength", JsLzmaMaxCompressedLength);
  ExportFunction(env, exports, "lzmaCompress", JsLzmaCompress);
  ExportFunction(env, exports, "lzmaUncompress", JsLzmaUncompress);
#endif
  (void)exports;
  (void)env;
}

}  // namespace blockwal
