// The WalB checksum (walb-formats §1), the all-zero test, and buffer address alignment.
#include "common.h"

#include <cstring>

namespace blockwal {

namespace {

inline uint32_t LoadLe32(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);  // unaligned-safe; compiles to a plain load
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap32(w);
#endif
  return w;
}

// A plain 32-bit word sum: GCC and Clang vectorize it at -O3. On x86-64 an AVX2 clone is
// selected at load time when the CPU has it (ifunc), the SSE2 baseline otherwise.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
uint32_t SumWords(const uint8_t* p, size_t nwords) {
  uint32_t sum = 0;
  for (size_t i = 0; i < nwords; i++) sum += LoadLe32(p + 4 * i);
  return sum;
}

uint32_t WalbChecksum(const uint8_t* p, size_t len, uint32_t salt) {
  const size_t whole = len & ~static_cast<size_t>(3);
  uint32_t sum = salt + SumWords(p, whole / 4);
  if (len > whole) {
    // Userland tail rule: 1-3 bytes zero-padded on the right, read little-endian.
    uint32_t w = 0;
    for (size_t j = 0; whole + j < len; j++) w |= static_cast<uint32_t>(p[whole + j]) << (8 * j);
    sum += w;
  }
  return 0u - sum;
}

bool AllZero(const uint8_t* p, size_t n) {
  size_t i = 0;
  // OR-reduce 256-byte blocks (vectorized), stop at the first non-zero block.
  while (n - i >= 256) {
    uint64_t acc = 0;
    for (size_t j = 0; j < 256; j += 8) {
      uint64_t w;
      std::memcpy(&w, p + i + j, 8);
      acc |= w;
    }
    if (acc != 0) return false;
    i += 256;
  }
  uint8_t acc = 0;
  for (; i < n; i++) acc |= p[i];
  return acc == 0;
}

// walbChecksum(buf, salt) -> u32
napi_value JsWalbChecksum(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  Bytes b;
  if (!GetBytes(env, argv[0], "buf", &b)) return nullptr;
  uint32_t salt = 0;
  if (!IsNullish(env, argv[1])) {
    // Accept any integer and take it modulo 2^32, as the JS fallback does (salt >>> 0).
    double d = 0;
    if (napi_get_value_double(env, argv[1], &d) != napi_ok) return ThrowTypeError(env, "salt must be a number");
    int64_t v = 0;
    napi_get_value_int64(env, argv[1], &v);
    salt = static_cast<uint32_t>(v);
  }
  return MakeUint32(env, WalbChecksum(b.data, b.length, salt));
}

// isAllZero(buf) -> boolean
napi_value JsIsAllZero(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  Bytes b;
  if (!GetBytes(env, argv[0], "buf", &b)) return nullptr;
  return MakeBool(env, AllZero(b.data, b.length));
}

// addressMod(buf, alignment) -> (address of buf[0]) % alignment; alignment a power of two.
napi_value JsAddressMod(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  Bytes b;
  if (!GetBytes(env, argv[0], "buf", &b)) return nullptr;
  uint32_t alignment = 0;
  if (!GetUint32(env, argv[1], "alignment", &alignment)) return nullptr;
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return ThrowRangeError(env, "alignment must be a power of two");
  return MakeUint32(env, static_cast<uint32_t>(reinterpret_cast<uintptr_t>(b.data) & (alignment - 1)));
}

}  // namespace

void RegisterChecksum(napi_env env, napi_value exports) {
  ExportFunction(env, exports, "walbChecksum", JsWalbChecksum);
  ExportFunction(env, exports, "isAllZero", JsIsAllZero);
  ExportFunction(env, exports, "addressMod", JsAddressMod);
}

}  // namespace blockwal
