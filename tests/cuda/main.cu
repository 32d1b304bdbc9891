// tests/cuda/main.cu — Catch2 main for the CUDA test executables. Without a device it returns 77,
// which ctest reports as skipped (SKIP_RETURN_CODE 77); it still lets Catch2 list the tests, or
// build-time discovery would register none (STYLE §2.7, pitfall 13).
#define CATCH_CONFIG_RUNNER
#include "layerpipe_test.hpp"

#include <cuda_runtime.h>

#include <string_view>

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::string_view(argv[i]).starts_with("--list");
  int devices = 0;
  if (!listing && (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)) return 77;
  return Catch::Session().run(argc, argv);
}
