// layerpipe/exec/cuda_options.hpp — how the CUDA executor (exec/cuda.cuh) maps pipeline devices
// onto GPUs, and whether it captures a step as a CUDA graph. Host-only and free of CUDA headers,
// so g++ code can build the options and their checks are tested without a GPU.
//
//   layerpipe::cuda_options o;                  // default: one stream per pipeline device, GPU 0
//   o.capture_graph = true;                     // capture the step as a graph, then launch it
//   layerpipe::cuda_options many;
//   many.placement = layerpipe::cuda_placement::gpu_per_device;
//   many.gpus = {0, 1, 2, 3};                   // pipeline device d on GPU gpus[d]
//   layerpipe::cuda_context ctx(many);          // exec/cuda.cuh
#pragma once

#include <layerpipe/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace layerpipe {

/// Where the pipeline devices of a schedule run.
enum class cuda_placement : std::uint8_t {
  streams_on_one_gpu,  ///< one stream per pipeline device, all on cuda_options::gpu; SEND/RECV are event waits
  gpu_per_device,      ///< pipeline device d on its own GPU; SEND is a peer copy (cudaMemcpyPeerAsync)
};

struct cuda_options {
  cuda_placement placement = cuda_placement::streams_on_one_gpu;
  int gpu = 0;            ///< streams_on_one_gpu: the GPU every stream lives on
  std::vector<int> gpus;  ///< gpu_per_device: the GPU of pipeline device d; empty means GPU d
  /// Capture the whole step (stream capture with event fork/join), then launch it as one CUDA
  /// graph. One GPU only (streams_on_one_gpu).
  bool capture_graph = false;
  friend bool operator==(const cuda_options&, const cuda_options&) = default;
};

namespace detail {

/// The GPU of each of `devices` pipeline devices, given the `gpu_count` GPUs the machine has.
/// Throws layerpipe::error naming the rule and the value for options that cannot be honoured.
inline std::vector<int> gpus_of_devices(const cuda_options& o, int devices, int gpu_count) {
  if (gpu_count <= 0)
    fail("cuda executor: no CUDA device is available (cudaGetDeviceCount reports ", gpu_count,
         "; rule: the CUDA executor needs a GPU)");
  if (devices <= 0) fail("cuda executor: a schedule needs at least one device, got ", devices);
  auto check_gpu = [&](int g, const char* what) {
    if (g < 0 || g >= gpu_count)
      fail("cuda executor: ", what, " is GPU ", g, " but the machine has ", gpu_count,
           " GPU(s) (rule: 0 <= gpu < cudaGetDeviceCount)");
  };
  std::vector<int> out(static_cast<std::size_t>(devices));
  if (o.placement == cuda_placement::streams_on_one_gpu) {
    check_gpu(o.gpu, "cuda_options::gpu");
    for (auto& g : out) g = o.gpu;
    return out;
  }
  if (o.capture_graph)
    fail("cuda executor: capture_graph needs placement streams_on_one_gpu, got gpu_per_device with ", devices,
         " devices (rule: a captured step runs on one GPU)");
  if (o.gpus.empty()) {
    if (devices > gpu_count)
      fail("cuda executor: gpu_per_device needs one GPU per pipeline device: the schedule has ", devices,
           " devices but the machine has ", gpu_count, " GPU(s) (rule: devices <= GPUs)");
    for (int d = 0; d < devices; ++d) out[static_cast<std::size_t>(d)] = d;
    return out;
  }
  if (o.gpus.size() < out.size())
    fail("cuda executor: cuda_options::gpus names ", o.gpus.size(), " GPU(s) for a schedule with ", devices,
         " devices (rule: one GPU per pipeline device)");
  for (std::size_t d = 0; d < out.size(); ++d) {
    check_gpu(o.gpus[d], "cuda_options::gpus[d]");
    for (std::size_t e = 0; e < d; ++e)
      if (o.gpus[e] == o.gpus[d])
        fail("cuda executor: cuda_options::gpus gives GPU ", o.gpus[d], " to devices ", e, " and ", d,
             " (rule: one GPU per pipeline device; use streams_on_one_gpu to share a GPU)");
    out[d] = o.gpus[d];
  }
  return out;
}

}  // namespace detail
}  // namespace layerpipe
