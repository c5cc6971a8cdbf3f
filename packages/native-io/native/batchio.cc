// Batched positioned I/O: many pread/pwrite calls in one N-API call. The plan is a Float64Array
// of (bufferOffset, fileOffset, length) triples; entries that continue each other both in the
// buffer and in the file are merged into one system call. Used where Node would otherwise pay
// its per-call overhead for every small record (redo of 4 KiB writes, reading records back).
#include "common.h"

#include <cerrno>
#include <cmath>

#include <unistd.h>

namespace blockwal {

namespace {

struct Plan {
  int fd;
  Bytes buf;
  const double* triples;
  size_t n;
};

bool GetPlan(napi_env env, napi_callback_info info, Plan* p) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return false;
  int32_t fd = -1;
  uint32_t n = 0;
  if (!GetInt32(env, argv[0], "fd", &fd) || !GetBytes(env, argv[1], "buf", &p->buf) || !GetUint32(env, argv[3], "count", &n)) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  bool isTyped = false;
  napi_is_typedarray(env, argv[2], &isTyped);
  if (!isTyped || napi_get_typedarray_info(env, argv[2], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float64_array) {
    ThrowTypeError(env, "plan must be a Float64Array of (bufferOffset, fileOffset, length) triples");
    return false;
  }
  if (static_cast<size_t>(n) * 3 > length) {
    ThrowRangeError(env, "count exceeds the plan");
    return false;
  }
  p->fd = fd;
  p->triples = static_cast<const double*>(data);
  p->n = n;
  return true;
}

// Validates entry i and returns it; false after throwing.
bool Entry(napi_env env, const Plan& p, size_t i, size_t* bufOff, off_t* fileOff, size_t* len) {
  const double b = p.triples[3 * i], f = p.triples[3 * i + 1], l = p.triples[3 * i + 2];
  if (!(b >= 0 && f >= 0 && l >= 0) || b != std::floor(b) || f != std::floor(f) || l != std::floor(l) || f > 9007199254740991.0 ||
      b + l > static_cast<double>(p.buf.length)) {
    ThrowRangeError(env, "plan entry out of range");
    return false;
  }
  *bufOff = static_cast<size_t>(b);
  *fileOff = static_cast<off_t>(f);
  *len = static_cast<size_t>(l);
  return true;
}

template <bool Write>
napi_value Batch(napi_env env, napi_callback_info info) {
  Plan p;
  if (!GetPlan(env, info, &p)) return nullptr;
  double total = 0;
  size_t i = 0;
  while (i < p.n) {
    size_t bufOff, len;
    off_t fileOff;
    if (!Entry(env, p, i, &bufOff, &fileOff, &len)) return nullptr;
    size_t j = i + 1;
    while (j < p.n) {  // merge entries that continue this one in the buffer and in the file
      size_t b2, l2;
      off_t f2;
      if (!Entry(env, p, j, &b2, &f2, &l2)) return nullptr;
      if (b2 != bufOff + len || f2 != fileOff + static_cast<off_t>(len)) break;
      len += l2;
      j++;
    }
    size_t done = 0;
    while (done < len) {
      ssize_t r = Write ? pwrite(p.fd, p.buf.data + bufOff + done, len - done, fileOff + done)
                        : pread(p.fd, p.buf.data + bufOff + done, len - done, fileOff + done);
      if (r < 0) {
        if (errno == EINTR) continue;
        return ThrowErrno(env, Write ? "pwrite" : "pread", errno);
      }
      if (r == 0) {
        if (Write) return ThrowErrno(env, "pwrite", EIO);
        return ThrowErrno(env, "pread", ENODATA);  // end of file inside an entry
      }
      done += static_cast<size_t>(r);
    }
    total += static_cast<double>(len);
    i = j;
  }
  return MakeNumber(env, total);
}

}  // namespace

void RegisterBatchIo(napi_env env, napi_value exports) {
  ExportFunction(env, exports, "pwriteBatch", Batch<true>);
  ExportFunction(env, exports, "preadBatch", Batch<false>);
}

}  // namespace blockwal
