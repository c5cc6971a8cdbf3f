# The blockwal native addon. Built by scripts/build.mjs (npm's "install" script), which first
# writes native/features.gypi: the codec defines (BLOCKWAL_HAVE_SNAPPY/LZ4/ZSTD/LZMA) and
# libraries detected on this machine. Plain N-API (node_api.h), no C++ exceptions.
{
  "targets": [
    {
      "target_name": "blockwal_native",
      "sources": [
        "native/addon.cc",
        "native/checksum.cc",
        "native/fileops.cc",
        "native/codecs.cc",
        "native/batchio.cc",
        "native/asyncio.cc"
      ],
      "includes": ["native/features.gypi"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "_GNU_SOURCE",
        "_FILE_OFFSET_BITS=64"
      ],
      "cflags": ["-O3", "-fvisibility=hidden"],
      "cflags_cc": ["-O3"],
      "xcode_settings": {
        "GCC_OPTIMIZATION_LEVEL": "3",
        "CLANG_CXX_LANGUAGE_STANDARD": "gnu++17"
      }
    }
  ]
}
