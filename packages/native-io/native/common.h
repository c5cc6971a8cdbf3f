// Shared helpers of the blockwal native addon (plain C N-API, no C++ exceptions).
//
// Error contract with the JS side (src/native.ts converts every native error in one function):
//   * system call failures throw an Error with numeric `errno` (positive) and string `syscall`;
//   * codec failures throw an Error with `code` = "ERR_BLOCKWAL_CODEC" and string `codec`;
//   * bad arguments throw a TypeError / RangeError with `code` ERR_INVALID_ARG_TYPE /
//     ERR_OUT_OF_RANGE.
// Every function returns nullptr after throwing; callers just `return nullptr` too.
#ifndef BLOCKWAL_NATIVE_COMMON_H
#define BLOCKWAL_NATIVE_COMMON_H

#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace blockwal {

// Per-environment (= per thread / worker) state, owned through napi_set_instance_data.
struct InstanceData {
  void* zstdCctx = nullptr;  // ZSTD_CCtx*, created on first use, reused for every level
  void* zstdDctx = nullptr;  // ZSTD_DCtx*
};

InstanceData* GetInstanceData(napi_env env);

// Throwing helpers. All return nullptr so that `return ThrowX(...)` reads naturally.
napi_value ThrowErrno(napi_env env, const char* syscall, int err);
// The Error ThrowErrno would throw, for passing to a callback.
napi_value ErrnoError(napi_env env, const char* syscall, int err);
napi_value ThrowCodec(napi_env env, const char* codec, const char* what);
napi_value ThrowTypeError(napi_env env, const char* what);
napi_value ThrowRangeError(napi_env env, const char* what);

// Argument access. Each returns false after throwing a TypeError/RangeError.
struct Bytes {
  uint8_t* data;
  size_t length;
};
bool GetArgs(napi_env env, napi_callback_info info, size_t expected, napi_value* argv, size_t* argc = nullptr);
bool GetBytes(napi_env env, napi_value value, const char* name, Bytes* out);
bool GetInt32(napi_env env, napi_value value, const char* name, int32_t* out);
bool GetUint32(napi_env env, napi_value value, const char* name, uint32_t* out);
// A non-negative integer below 2^53 (file offsets and lengths).
bool GetSafeIndex(napi_env env, napi_value value, const char* name, int64_t* out);
bool IsNullish(napi_env env, napi_value value);

napi_value MakeNumber(napi_env env, double v);
napi_value MakeUint32(napi_env env, uint32_t v);
napi_value MakeBool(napi_env env, bool v);
napi_value MakeString(napi_env env, const char* s);
napi_value Undefined(napi_env env);
void SetNamed(napi_env env, napi_value obj, const char* key, napi_value value);

// Registration of the functions of each source file.
void RegisterChecksum(napi_env env, napi_value exports);
void RegisterFileOps(napi_env env, napi_value exports);
void RegisterCodecs(napi_env env, napi_value exports);
void RegisterBatchIo(napi_env env, napi_value exports);
void RegisterAsyncIo(napi_env env, napi_value exports);
// Adds {snappy, lz4, zstd, lzma} availability and library versions to `info`.
void DescribeCodecs(napi_env env, napi_value info);
void FreeCodecState(InstanceData* data);

void ExportFunction(napi_env env, napi_value exports, const char* name, napi_callback cb);

}  // namespace blockwal

#endif  // BLOCKWAL_NATIVE_COMMON_H
