// File and block-device operations: fallocate (punch hole / zero range), FICLONE, block-device
// ioctls, and the WalB control ioctls (walb-formats §4). Linux only; elsewhere every function
// throws ENOSYS and the JS layer falls back.
#include "common.h"

#include <cerrno>
#include <cstring>

#if defined(__linux__)
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>
#endif

namespace blockwal {

namespace {

#if defined(__linux__)

#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

// WalB ioctl numbers (x86_64 / LP64); see walb-formats §4.1.
constexpr unsigned long kWalbIoctlVersion = 0x8004FE00UL;
constexpr unsigned long kWalbIoctlControl = 0xC078FE01UL;
constexpr unsigned long kWalbIoctlWdev = 0xC078FE02UL;

// struct walb_ctl (packed, 120 bytes): two struct walb_ctl_data (48 bytes) at 24 and 72;
// inside each: size_t buf_size @24, void* buf @32, void* kbuf @40.
constexpr size_t kWalbCtlSize = 120;
constexpr size_t kU2kOffset = 24;
constexpr size_t kK2uOffset = 72;
constexpr size_t kBufSizeField = 24;
constexpr size_t kBufField = 32;
constexpr size_t kKbufField = 40;
static_assert(sizeof(size_t) == 8 && sizeof(void*) == 8, "struct walb_ctl needs LP64");

template <typename F>
int NoEintr(F f) {
  int r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

bool GetFd(napi_env env, napi_value v, int* fd) {
  int32_t x = 0;
  if (!GetInt32(env, v, "fd", &x)) return false;
  if (x < 0) {
    ThrowRangeError(env, "fd must be >= 0");
    return false;
  }
  *fd = x;
  return true;
}

// fallocate(fd, mode, offset, length) -> undefined; mode 'punch' | 'zero'.
napi_value Fallocate(napi_env env, napi_callback_info info, int mode) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  int fd = -1;
  int64_t offset = 0, length = 0;
  if (!GetFd(env, argv[0], &fd) || !GetSafeIndex(env, argv[1], "offset", &offset) ||
      !GetSafeIndex(env, argv[2], "length", &length))
    return nullptr;
  if (length == 0) return Undefined(env);
  if (NoEintr([&] { return fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length)); }) != 0)
    return ThrowErrno(env, "fallocate", errno);
  return Undefined(env);
}

napi_value JsPunchHole(napi_env env, napi_callback_info info) {
  return Fallocate(env, info, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

napi_value JsZeroRange(napi_env env, napi_callback_info info) { return Fallocate(env, info, FALLOC_FL_ZERO_RANGE); }

// setDirect(fd, enable) -> undefined: sets or clears O_DIRECT with fcntl(F_SETFL). EINVAL means
// the filesystem refuses direct I/O (the JS layer then keeps buffered I/O).
napi_value JsSetDirect(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return nullptr;
  bool enable = false;
  if (napi_get_value_bool(env, argv[1], &enable) != napi_ok) return ThrowTypeError(env, "enable must be a boolean");
  int flags = fcntl(fd, F_GETFL);
  if (flags == -1) return ThrowErrno(env, "fcntl", errno);
  int wanted = enable ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) == -1) return ThrowErrno(env, "fcntl", errno);
  return Undefined(env);
}

// reflink(srcFd, dstFd) -> undefined; throws the errno (the JS layer maps "unsupported" to false).
napi_value JsReflink(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  int src = -1, dst = -1;
  if (!GetFd(env, argv[0], &src) || !GetFd(env, argv[1], &dst)) return nullptr;
  if (NoEintr([&] { return ioctl(dst, FICLONE, src); }) != 0) return ThrowErrno(env, "ioctl", errno);
  return Undefined(env);
}

// blockDeviceSize(fd) -> bytes (BLKGETSIZE64)
napi_value JsBlockDeviceSize(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return nullptr;
  uint64_t size = 0;
  if (ioctl(fd, BLKGETSIZE64, &size) != 0) return ThrowErrno(env, "ioctl", errno);
  return MakeNumber(env, static_cast<double>(size));
}

// blockDevicePbs(fd) -> physical block size in bytes (BLKPBSZGET)
napi_value JsBlockDevicePbs(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return nullptr;
  unsigned int pbs = 0;
  if (ioctl(fd, BLKPBSZGET, &pbs) != 0) return ThrowErrno(env, "ioctl", errno);
  return MakeUint32(env, pbs);
}

// blkDiscard(fd, offset, length) -> undefined (BLKDISCARD)
napi_value JsBlkDiscard(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  int fd = -1;
  int64_t offset = 0, length = 0;
  if (!GetFd(env, argv[0], &fd) || !GetSafeIndex(env, argv[1], "offset", &offset) ||
      !GetSafeIndex(env, argv[2], "length", &length))
    return nullptr;
  uint64_t range[2] = {static_cast<uint64_t>(offset), static_cast<uint64_t>(length)};
  if (NoEintr([&] { return ioctl(fd, BLKDISCARD, range); }) != 0) return ThrowErrno(env, "ioctl", errno);
  return Undefined(env);
}

// walbVersion(fd) -> u32 (WALB_IOCTL_VERSION)
napi_value JsWalbVersion(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return nullptr;
  uint32_t version = 0;
  if (ioctl(fd, kWalbIoctlVersion, &version) != 0) return ThrowErrno(env, "ioctl", errno);
  return MakeUint32(env, version);
}

void PutPointer(uint8_t* ctl, size_t off, const void* p) {
  uint64_t v = reinterpret_cast<uintptr_t>(p);
  std::memcpy(ctl + off, &v, 8);
}

void PutSize(uint8_t* ctl, size_t off, size_t n) {
  uint64_t v = n;
  std::memcpy(ctl + off, &v, 8);
}

// ioctlWalbCtl(fd, request, ctl, u2kBuf?, k2uBuf?) -> ioctl result.
// `ctl` is the 120-byte encoded struct walb_ctl; its buf/buf_size/kbuf fields are replaced by the
// given buffers (or NULL/0). The struct is copied back into `ctl` (pointer fields zeroed) before
// any error is thrown, because the kernel fills it even when the command fails.
napi_value JsIoctlWalbCtl(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!GetArgs(env, info, 5, argv)) return nullptr;
  int fd = -1;
  uint32_t request = 0;
  Bytes ctl{}, u2k{nullptr, 0}, k2u{nullptr, 0};
  if (!GetFd(env, argv[0], &fd) || !GetUint32(env, argv[1], "request", &request) ||
      !GetBytes(env, argv[2], "ctl", &ctl))
    return nullptr;
  if (request != kWalbIoctlControl && request != kWalbIoctlWdev)
    return ThrowRangeError(env, "request must be WALB_IOCTL_CONTROL or WALB_IOCTL_WDEV");
  if (ctl.length != kWalbCtlSize) return ThrowRangeError(env, "ctl must be exactly 120 bytes (struct walb_ctl)");
  if (!IsNullish(env, argv[3]) && !GetBytes(env, argv[3], "u2kBuf", &u2k)) return nullptr;
  if (!IsNullish(env, argv[4]) && !GetBytes(env, argv[4], "k2uBuf", &k2u)) return nullptr;

  alignas(8) uint8_t local[kWalbCtlSize];
  std::memcpy(local, ctl.data, kWalbCtlSize);
  PutSize(local, kU2kOffset + kBufSizeField, u2k.length);
  PutPointer(local, kU2kOffset + kBufField, u2k.length > 0 ? u2k.data : nullptr);
  PutPointer(local, kU2kOffset + kKbufField, nullptr);
  PutSize(local, kK2uOffset + kBufSizeField, k2u.length);
  PutPointer(local, kK2uOffset + kBufField, k2u.length > 0 ? k2u.data : nullptr);
  PutPointer(local, kK2uOffset + kKbufField, nullptr);

  int r = ioctl(fd, request, local);
  int err = errno;
  const size_t pointerFields[] = {kU2kOffset + kBufField, kU2kOffset + kKbufField, kK2uOffset + kBufField,
                                  kK2uOffset + kKbufField};
  for (size_t off : pointerFields) PutPointer(local, off, nullptr);
  std::memcpy(ctl.data, local, kWalbCtlSize);
  if (r < 0) return ThrowErrno(env, "ioctl", err);
  return MakeNumber(env, r);
}

#else  // !__linux__

napi_value NotSupported(napi_env env, napi_callback_info) { return ThrowErrno(env, "ioctl", ENOSYS); }
#define JsPunchHole NotSupported
#define JsZeroRange NotSupported
#define JsReflink NotSupported
#define JsSetDirect NotSupported
#define JsBlockDeviceSize NotSupported
#define JsBlockDevicePbs NotSupported
#define JsBlkDiscard NotSupported
#define JsWalbVersion NotSupported
#define JsIoctlWalbCtl NotSupported

#endif

}  // namespace

void RegisterFileOps(napi_env env, napi_value exports) {
  ExportFunction(env, exports, "punchHole", JsPunchHole);
  ExportFunction(env, exports, "zeroRange", JsZeroRange);
  ExportFunction(env, exports, "reflink", JsReflink);
  ExportFunction(env, exports, "setDirect", JsSetDirect);
  ExportFunction(env, exports, "blockDeviceSize", JsBlockDeviceSize);
  ExportFunction(env, exports, "blockDevicePbs", JsBlockDevicePbs);
  ExportFunction(env, exports, "blkDiscard", JsBlkDiscard);
  ExportFunction(env, exports, "walbVersion", JsWalbVersion);
  ExportFunction(env, exports, "ioctlWalbCtl", JsIoctlWalbCtl);
}

}  // namespace blockwal
