// The version macros of core/version.hpp agree with CMake's project(VERSION), which the build
// passes in as LAYERPIPE_TEST_PROJECT_VERSION_* (tests/CMakeLists.txt).
#include "layerpipe_test.hpp"

#include <layerpipe/core/version.hpp>

#include <string>

#if !defined(LAYERPIPE_TEST_PROJECT_VERSION_MAJOR) || !defined(LAYERPIPE_TEST_PROJECT_VERSION_MINOR) || \
    !defined(LAYERPIPE_TEST_PROJECT_VERSION_PATCH)
#  error "tests/CMakeLists.txt must define LAYERPIPE_TEST_PROJECT_VERSION_{MAJOR,MINOR,PATCH}"
#endif

TEST_CASE("version macros match project(VERSION)", "[core][version]") {
  STATIC_REQUIRE(LAYERPIPE_VERSION_MAJOR == LAYERPIPE_TEST_PROJECT_VERSION_MAJOR);
  STATIC_REQUIRE(LAYERPIPE_VERSION_MINOR == LAYERPIPE_TEST_PROJECT_VERSION_MINOR);
  STATIC_REQUIRE(LAYERPIPE_VERSION_PATCH == LAYERPIPE_TEST_PROJECT_VERSION_PATCH);
}

TEST_CASE("LAYERPIPE_VERSION packs major, minor and patch as major*10000 + minor*100 + patch",
          "[core][version]") {
  STATIC_REQUIRE(LAYERPIPE_VERSION == LAYERPIPE_TEST_PROJECT_VERSION_MAJOR * 10000 +
                                          LAYERPIPE_TEST_PROJECT_VERSION_MINOR * 100 +
                                          LAYERPIPE_TEST_PROJECT_VERSION_PATCH);
  // Two digits each for minor and patch: a larger one would collide with the next field.
  STATIC_REQUIRE(LAYERPIPE_VERSION_MINOR < 100);
  STATIC_REQUIRE(LAYERPIPE_VERSION_PATCH < 100);
}

TEST_CASE("version_string spells the same version", "[core][version]") {
  const std::string expected = std::to_string(LAYERPIPE_TEST_PROJECT_VERSION_MAJOR) + "." +
                               std::to_string(LAYERPIPE_TEST_PROJECT_VERSION_MINOR) + "." +
                               std::to_string(LAYERPIPE_TEST_PROJECT_VERSION_PATCH);
  REQUIRE(std::string(layerpipe::version_string) == expected);
}
