// layerpipe/core/version.hpp — the library version, for preprocessor and run-time checks.
//
//   #if LAYERPIPE_VERSION >= 100   // 0.1.0 or newer
//   std::string_view v = layerpipe::version_string;   // "0.1.0"
#pragma once

#include <string_view>

#define LAYERPIPE_VERSION_MAJOR 0
#define LAYERPIPE_VERSION_MINOR 1
#define LAYERPIPE_VERSION_PATCH 0
#define LAYERPIPE_VERSION \
  (LAYERPIPE_VERSION_MAJOR * 10000 + LAYERPIPE_VERSION_MINOR * 100 + LAYERPIPE_VERSION_PATCH)

namespace layerpipe {
inline constexpr std::string_view version_string = "0.1.0";
}  // namespace layerpipe
