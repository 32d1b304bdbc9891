// layerpipe/core/config.hpp — compiler and CUDA switches shared by every header.
//
// LAYERPIPE_HD marks functions that may run on a CUDA device as well as on the host. Such
// functions neither allocate nor throw. Every CUDA-version switch of the library lives here.
//
//   struct scale_by {
//     float factor;
//     LAYERPIPE_HD constexpr float operator()(float x) const { return factor * x; }
//   };
#pragma once

#if defined(__CUDACC__)
#  define LAYERPIPE_HD __host__ __device__ inline
#else
#  define LAYERPIPE_HD inline
#endif
