// layerpipe/nn/matrix.hpp — the shapes nn/ layers work on: non-owning row-major views.
//
// Every nn/ function takes its tensors as a `matrix_view<T>`: a pointer, a row count (the
// micro-batch) and a column count (the features), row-major, so element (r, c) is
// data[r * cols + c]. The pointer may be device memory: the library only hands it to Thrust with
// the caller's execution policy and never dereferences it on the host. Vectors (a bias, labels)
// are std::span. as_matrix() and as_span() build views over thrust::device_vector,
// thrust::host_vector or std::vector, checking the size.
//
//   thrust::device_vector<float> xs(batch * 3);
//   auto x = layerpipe::nn::as_matrix(xs, batch, 3);      // matrix_view<float>, batch x 3
//   layerpipe::nn::matrix_view<const float> cx = x;       // read-only view of the same data
#pragma once

#include <layerpipe/core/error.hpp>

#include <thrust/memory.h>

#include <cstddef>
#include <span>
#include <type_traits>

namespace layerpipe::nn {

/// Non-owning row-major view of a rows x cols matrix (rows = batch, cols = features).
template <class T>
struct matrix_view {
  T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;

  constexpr std::size_t size() const noexcept { return rows * cols; }
  /// A view of mutable data converts to a read-only view. (A template, so that no conversion of
  /// matrix_view<const T> to itself is ever declared: nvcc warns about one, #554-D.)
  template <class U = T>
    requires(!std::is_const_v<U>)
  constexpr operator matrix_view<const U>() const noexcept {
    return {data, rows, cols};
  }
};

/// Views `v` (anything with data() and size(): std::vector, thrust::host_vector,
/// thrust::device_vector) as a rows x cols matrix; throws unless v.size() == rows * cols.
template <class Vector>
auto as_matrix(Vector& v, std::size_t rows, std::size_t cols) {
  if (static_cast<std::size_t>(v.size()) != rows * cols) {
    layerpipe::detail::fail("nn::as_matrix: the vector must hold rows * cols elements, got size ", v.size(),
                 " for rows = ", rows, ", cols = ", cols);
  }
  auto* p = thrust::raw_pointer_cast(v.data());
  return matrix_view<std::remove_pointer_t<decltype(p)>>{p, rows, cols};
}

/// Views `v` as a std::span over its (host or device) storage.
template <class Vector>
auto as_span(Vector& v) {
  auto* p = thrust::raw_pointer_cast(v.data());
  return std::span<std::remove_pointer_t<decltype(p)>>(p, static_cast<std::size_t>(v.size()));
}

}  // namespace layerpipe::nn
