// Module entry of blockwal_native.node and the shared helpers declared in common.h.
#include "common.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

namespace blockwal {

namespace {

void FinalizeInstanceData(napi_env /*env*/, void* data, void* /*hint*/) {
  auto* d = static_cast<InstanceData*>(data);
  FreeCodecState(d);
  delete d;
}

napi_value MakeError(napi_env env, const char* message, napi_status (*ctor)(napi_env, napi_value, napi_value, napi_value*),
                     const char* code) {
  napi_value msg = nullptr;
  napi_value codeValue = nullptr;
  napi_value error = nullptr;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  if (code != nullptr) napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &codeValue);
  ctor(env, codeValue, msg, &error);
  return error;
}

bool IsExceptionPending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

}  // namespace

InstanceData* GetInstanceData(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<InstanceData*>(data);
}

napi_value ErrnoError(napi_env env, const char* syscall, int err) {
  char buf[256];
  // GNU strerror_r may return a static string instead of filling buf.
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  const char* text = strerror_r(err, buf, sizeof buf);
#else
  const char* text = strerror_r(err, buf, sizeof buf) == 0 ? buf : "unknown error";
#endif
  napi_value error = MakeError(env, text, napi_create_error, nullptr);
  SetNamed(env, error, "errno", MakeNumber(env, err));
  SetNamed(env, error, "syscall", MakeString(env, syscall));
  return error;
}

napi_value ThrowErrno(napi_env env, const char* syscall, int err) {
  if (IsExceptionPending(env)) return nullptr;
  napi_throw(env, ErrnoError(env, syscall, err));
  return nullptr;
}

napi_value ThrowCodec(napi_env env, const char* codec, const char* what) {
  if (IsExceptionPending(env)) return nullptr;
  char buf[512];
  snprintf(buf, sizeof buf, "%s: %s", codec, what);
  napi_value error = MakeError(env, buf, napi_create_error, "ERR_BLOCKWAL_CODEC");
  SetNamed(env, error, "codec", MakeString(env, codec));
  napi_throw(env, error);
  return nullptr;
}

napi_value ThrowTypeError(napi_env env, const char* what) {
  if (IsExceptionPending(env)) return nullptr;
  napi_throw(env, MakeError(env, what, napi_create_type_error, "ERR_INVALID_ARG_TYPE"));
  return nullptr;
}

napi_value ThrowRangeError(napi_env env, const char* what) {
  if (IsExceptionPending(env)) return nullptr;
  napi_throw(env, MakeError(env, what, napi_create_range_error, "ERR_OUT_OF_RANGE"));
  return nullptr;
}

bool GetArgs(napi_env env, napi_callback_info info, size_t expected, napi_value* argv, size_t* argcOut) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) {
    ThrowTypeError(env, "cannot read the arguments");
    return false;
  }
  // Missing trailing arguments read as undefined.
  napi_value undef = Undefined(env);
  for (size_t i = argc; i < expected; i++) argv[i] = undef;
  if (argcOut != nullptr) *argcOut = argc;
  return true;
}

bool GetBytes(napi_env env, napi_value value, const char* name, Bytes* out) {
  // napi_get_buffer_info accepts any ArrayBufferView in Node (Buffer, Uint8Array, DataView...)
  // and returns the view's own start (byteOffset applied) and byteLength.
  bool isView = false;
  napi_is_typedarray(env, value, &isView);
  if (!isView) napi_is_dataview(env, value, &isView);
  if (!isView) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", name);
    ThrowTypeError(env, msg);
    return false;
  }
  void* data = nullptr;
  size_t length = 0;
  if (napi_get_buffer_info(env, value, &data, &length) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", name);
    ThrowTypeError(env, msg);
    return false;
  }
  out->data = static_cast<uint8_t*>(data);
  out->length = length;
  return true;
}

bool GetInt32(napi_env env, napi_value value, const char* name, int32_t* out) {
  double d = 0;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= -2147483648.0 && d <= 2147483647.0) ||
      d != std::floor(d)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a 32-bit integer", name);
    ThrowTypeError(env, msg);
    return false;
  }
  *out = static_cast<int32_t>(d);
  return true;
}

bool GetUint32(napi_env env, napi_value value, const char* name, uint32_t* out) {
  double d = 0;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != std::floor(d)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be an unsigned 32-bit integer", name);
    ThrowTypeError(env, msg);
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

bool GetSafeIndex(napi_env env, napi_value value, const char* name, int64_t* out) {
  double d = 0;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0 && d <= 9007199254740991.0) ||
      d != std::floor(d)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a non-negative safe integer", name);
    ThrowRangeError(env, msg);
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool IsNullish(napi_env env, napi_value value) {
  napi_valuetype t = napi_undefined;
  napi_typeof(env, value, &t);
  return t == napi_undefined || t == napi_null;
}

napi_value MakeNumber(napi_env env, double v) {
  napi_value r = nullptr;
  napi_create_double(env, v, &r);
  return r;
}

napi_value MakeUint32(napi_env env, uint32_t v) {
  napi_value r = nullptr;
  napi_create_uint32(env, v, &r);
  return r;
}

napi_value MakeBool(napi_env env, bool v) {
  napi_value r = nullptr;
  napi_get_boolean(env, v, &r);
  return r;
}

napi_value MakeString(napi_env env, const char* s) {
  napi_value r = nullptr;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  return r;
}

napi_value Undefined(napi_env env) {
  napi_value r = nullptr;
  napi_get_undefined(env, &r);
  return r;
}

void SetNamed(napi_env env, napi_value obj, const char* key, napi_value value) {
  napi_set_named_property(env, obj, key, value);
}

void ExportFunction(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn = nullptr;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

namespace {

// info(): what was compiled in; the JS side adds what it decided at load time.
napi_value Info(napi_env env, napi_callback_info /*info*/) {
  napi_value obj = nullptr;
  napi_create_object(env, &obj);
  SetNamed(env, obj, "addonVersion", MakeString(env, BLOCKWAL_ADDON_VERSION));
  SetNamed(env, obj, "napiVersion", MakeUint32(env, NAPI_VERSION));
#if defined(__clang__)
  SetNamed(env, obj, "compiler", MakeString(env, "clang " __clang_version__));
#elif defined(__GNUC__)
  SetNamed(env, obj, "compiler", MakeString(env, "gcc " __VERSION__));
#else
  SetNamed(env, obj, "compiler", MakeString(env, "unknown"));
#endif
#if defined(__linux__)
  SetNamed(env, obj, "linux", MakeBool(env, true));
#else
  SetNamed(env, obj, "linux", MakeBool(env, false));
#endif
  DescribeCodecs(env, obj);
  return obj;
}

}  // namespace

}  // namespace blockwal

NAPI_MODULE_INIT() {
  using namespace blockwal;
  auto* data = new (std::nothrow) InstanceData();
  if (data == nullptr || napi_set_instance_data(env, data, FinalizeInstanceData, nullptr) != napi_ok) {
    delete data;
    napi_throw_error(env, nullptr, "blockwal_native: cannot allocate the instance data");
    return nullptr;
  }
  ExportFunction(env, exports, "info", Info);
  RegisterChecksum(env, exports);
  RegisterFileOps(env, exports);
  RegisterCodecs(env, exports);
  RegisterBatchIo(env, exports);
  RegisterAsyncIo(env, exports);
  return exports;
}
