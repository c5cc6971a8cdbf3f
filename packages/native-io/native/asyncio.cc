// Asynchronous positioned writes of many buffers in one call, run on the libuv thread pool:
// writeManyAsync(fd, buffers, positions, count, callback(err, bytes)). Buffer i goes to file
// offset positions[i]; buffers that continue each other in the file are written with one
// pwritev. Used by the WAL device to apply a logpack's records to the data device without
// blocking the event loop and without one libuv request per record.
// startWritebackAsync(fd, ranges, count, callback(err)): sync_file_range(SYNC_FILE_RANGE_WRITE)
// on each (offset, length) pair of the Float64Array, on the thread pool: starts writing those
// dirty pages out without waiting for them, so that a later fdatasync finds little left to do
// (the WAL device's checkpoints).
#include "common.h"

#include <cerrno>
#include <cmath>
#include <vector>

#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

namespace blockwal {

namespace {

struct WriteMany {
  napi_async_work work = nullptr;
  napi_ref buffersRef = nullptr;  // keeps the buffers alive while the thread pool writes them
  napi_ref callbackRef = nullptr;
  int fd = -1;
  std::vector<iovec> iov;
  std::vector<off_t> pos;
  int err = 0;
  double bytes = 0;
};

void Execute(napi_env /*env*/, void* data) {
  auto* w = static_cast<WriteMany*>(data);
  size_t i = 0;
  const size_t n = w->iov.size();
  while (i < n) {
    // Gather a run of buffers that continue each other in the file (at most IOV_MAX).
    size_t j = i + 1;
    off_t end = w->pos[i] + static_cast<off_t>(w->iov[i].iov_len);
    while (j < n && j - i < IOV_MAX && w->pos[j] == end) {
      end += static_cast<off_t>(w->iov[j].iov_len);
      j++;
    }
    // Write the run, continuing after partial writes.
    size_t k = i;
    size_t skip = 0;  // bytes of iov[k] already written
    off_t at = w->pos[i];
    while (k < j) {
      iovec saved = w->iov[k];
      w->iov[k].iov_base = static_cast<char*>(saved.iov_base) + skip;
      w->iov[k].iov_len = saved.iov_len - skip;
      ssize_t r = pwritev(w->fd, &w->iov[k], static_cast<int>(j - k), at);
      w->iov[k] = saved;
      if (r < 0) {
        if (errno == EINTR) continue;
        w->err = errno;
        return;
      }
      if (r == 0) {
        w->err = EIO;
        return;
      }
      w->bytes += static_cast<double>(r);
      at += r;
      size_t left = static_cast<size_t>(r);
      while (k < j && left >= w->iov[k].iov_len - skip) {
        left -= w->iov[k].iov_len - skip;
        skip = 0;
        k++;
      }
      skip += left;
    }
    i = j;
  }
}

void Complete(napi_env env, napi_status status, void* data) {
  auto* w = static_cast<WriteMany*>(data);
  napi_value cb = nullptr, global = nullptr, args[2];
  napi_get_reference_value(env, w->callbackRef, &cb);
  napi_get_global(env, &global);
  if (status != napi_ok) args[0] = ErrnoError(env, "pwritev", ECANCELED);
  else if (w->err != 0) args[0] = ErrnoError(env, "pwritev", w->err);
  else napi_get_null(env, &args[0]);
  args[1] = MakeNumber(env, w->bytes);
  napi_delete_reference(env, w->buffersRef);
  napi_delete_reference(env, w->callbackRef);
  napi_delete_async_work(env, w->work);
  delete w;
  if (cb != nullptr) napi_call_function(env, global, cb, 2, args, nullptr);
}

napi_value JsWriteManyAsync(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!GetArgs(env, info, 5, argv)) return nullptr;
  int32_t fd = -1;
  uint32_t count = 0;
  if (!GetInt32(env, argv[0], "fd", &fd) || !GetUint32(env, argv[3], "count", &count)) return nullptr;
  bool isArray = false;
  napi_is_array(env, argv[1], &isArray);
  if (!isArray) return ThrowTypeError(env, "buffers must be an array of Uint8Array");
  uint32_t length = 0;
  napi_get_array_length(env, argv[1], &length);
  napi_typedarray_type type;
  size_t plen = 0;
  void* pdata = nullptr;
  bool isTyped = false;
  napi_is_typedarray(env, argv[2], &isTyped);
  if (!isTyped || napi_get_typedarray_info(env, argv[2], &type, &plen, &pdata, nullptr, nullptr) != napi_ok || type != napi_float64_array)
    return ThrowTypeError(env, "positions must be a Float64Array");
  if (count > length || count > plen) return ThrowRangeError(env, "count exceeds the buffers or the positions");
  napi_valuetype cbType;
  napi_typeof(env, argv[4], &cbType);
  if (cbType != napi_function) return ThrowTypeError(env, "callback must be a function");

  auto* w = new WriteMany();
  w->fd = fd;
  w->iov.resize(count);
  w->pos.resize(count);
  const double* positions = static_cast<const double*>(pdata);
  for (uint32_t i = 0; i < count; i++) {
    napi_value el = nullptr;
    napi_get_element(env, argv[1], i, &el);
    Bytes b;
    const double p = positions[i];
    if (!GetBytes(env, el, "buffers[i]", &b) || !(p >= 0 && p <= 9007199254740991.0 && p == std::floor(p))) {
      delete w;
      if (!(p >= 0)) return ThrowRangeError(env, "positions[i] must be a non-negative integer");
      return nullptr;
    }
    w->iov[i].iov_base = b.data;
    w->iov[i].iov_len = b.length;
    w->pos[i] = static_cast<off_t>(p);
  }
  napi_create_reference(env, argv[1], 1, &w->buffersRef);
  napi_create_reference(env, argv[4], 1, &w->callbackRef);
  napi_value name = MakeString(env, "blockwal.writeManyAsync");
  napi_create_async_work(env, nullptr, name, Execute, Complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return Undefined(env);
}

struct Writeback {
  napi_async_work work = nullptr;
  napi_ref callbackRef = nullptr;
  int fd = -1;
  std::vector<off_t> ranges;  // offset, length pairs
  int err = 0;
};

void ExecuteWriteback(napi_env /*env*/, void* data) {
  auto* w = static_cast<Writeback*>(data);
#if defined(__linux__)
  for (size_t i = 0; i + 1 < w->ranges.size(); i += 2) {
    if (sync_file_range(w->fd, w->ranges[i], w->ranges[i + 1], SYNC_FILE_RANGE_WRITE) != 0) {
      w->err = errno;
      return;
    }
  }
#else
  w->err = ENOSYS;
#endif
}

void CompleteWriteback(napi_env env, napi_status status, void* data) {
  auto* w = static_cast<Writeback*>(data);
  napi_value cb = nullptr, global = nullptr, arg;
  napi_get_reference_value(env, w->callbackRef, &cb);
  napi_get_global(env, &global);
  if (status != napi_ok) arg = ErrnoError(env, "sync_file_range", ECANCELED);
  else if (w->err != 0) arg = ErrnoError(env, "sync_file_range", w->err);
  else napi_get_null(env, &arg);
  napi_delete_reference(env, w->callbackRef);
  napi_delete_async_work(env, w->work);
  delete w;
  if (cb != nullptr) napi_call_function(env, global, cb, 1, &arg, nullptr);
}

napi_value JsStartWritebackAsync(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return nullptr;
  int32_t fd = -1;
  uint32_t count = 0;
  if (!GetInt32(env, argv[0], "fd", &fd) || !GetUint32(env, argv[2], "count", &count)) return nullptr;
  napi_typedarray_type type;
  size_t rlen = 0;
  void* rdata = nullptr;
  bool isTyped = false;
  napi_is_typedarray(env, argv[1], &isTyped);
  if (!isTyped || napi_get_typedarray_info(env, argv[1], &type, &rlen, &rdata, nullptr, nullptr) != napi_ok || type != napi_float64_array)
    return ThrowTypeError(env, "ranges must be a Float64Array of (offset, length) pairs");
  if (static_cast<size_t>(count) * 2 > rlen) return ThrowRangeError(env, "count exceeds the ranges");
  napi_valuetype cbType;
  napi_typeof(env, argv[3], &cbType);
  if (cbType != napi_function) return ThrowTypeError(env, "callback must be a function");
  const double* r = static_cast<const double*>(rdata);
  for (size_t i = 0; i < static_cast<size_t>(count) * 2; i++) {
    if (!(r[i] >= 0 && r[i] <= 9007199254740991.0 && r[i] == std::floor(r[i]))) return ThrowRangeError(env, "ranges must hold non-negative integers");
  }
  auto* w = new Writeback();
  w->fd = fd;
  w->ranges.assign(r, r + static_cast<size_t>(count) * 2);
  napi_create_reference(env, argv[3], 1, &w->callbackRef);
  napi_value name = MakeString(env, "blockwal.startWritebackAsync");
  napi_create_async_work(env, nullptr, name, ExecuteWriteback, CompleteWriteback, w, &w->work);
  napi_queue_async_work(env, w->work);
  return Undefined(env);
}

}  // namespace

void RegisterAsyncIo(napi_env env, napi_value exports) {
  ExportFunction(env, exports, "writeManyAsync", JsWriteManyAsync);
  ExportFunction(env, exports, "startWritebackAsync", JsStartWritebackAsync);
}

}  // namespace blockwal
