// layerpipe/nn/dense.hpp — a fully connected layer y = W x + b over a micro-batch, written once
// on Thrust for every backend.
//
// Shapes (row-major, see nn/matrix.hpp): x is batch x in, W is out x in (one row per output, so
// `in` is the fan-in), b has `out` elements, y is batch x out. The policy is the caller's:
// thrust::cpp::par or thrust::omp::par on the host, thrust::cuda::par_nosync.on(stream) on a
// device (then the pointers must be device memory). Each output element is one sum in a fixed
// order, so results are bitwise reproducible for a given backend. Wrong shapes throw
// layerpipe::error before anything is launched.
//
//   namespace nn = layerpipe::nn;
//   nn::dense_forward(thrust::cpp::par, w, b, x, y);          // y = x W^T + b
//   nn::dense_backward_input(thrust::cpp::par, w, dy, dx);    // dx = dy W
//   nn::dense_backward_weight(thrust::cpp::par, x, dy, dw, db);  // dW += dy^T x, db += sum dy
#pragma once

#include <layerpipe/core/config.hpp>
#include <layerpipe/nn/detail/checks.hpp>
#include <layerpipe/nn/matrix.hpp>

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstddef>
#include <span>
#include <type_traits>

namespace layerpipe::nn {

namespace detail {
/// y[r, o] = b[o] + sum_i W[o, i] x[r, i], for k = r * out + o.
template <class T>
struct dense_forward_at {
  const T* w;
  const T* b;
  const T* x;
  T* y;
  std::size_t in;
  std::size_t out;
  LAYERPIPE_HD void operator()(std::size_t k) const {
    const std::size_t r = k / out;
    const std::size_t o = k % out;
    T acc = b[o];
    for (std::size_t i = 0; i < in; ++i) acc += w[o * in + i] * x[r * in + i];
    y[k] = acc;
  }
};

/// dx[r, i] = sum_o dy[r, o] W[o, i], for k = r * in + i.
template <class T>
struct dense_input_gradient_at {
  const T* w;
  const T* dy;
  T* dx;
  std::size_t in;
  std::size_t out;
  LAYERPIPE_HD void operator()(std::size_t k) const {
    const std::size_t r = k / in;
    const std::size_t i = k % in;
    T acc = T(0);
    for (std::size_t o = 0; o < out; ++o) acc += dy[r * out + o] * w[o * in + i];
    dx[k] = acc;
  }
};

/// dW[o, i] += sum_r dy[r, o] x[r, i], for k = o * in + i; the thread with i == 0 also adds
/// sum_r dy[r, o] to db[o] (one writer per element, no atomics).
template <class T>
struct dense_weight_gradient_at {
  const T* x;
  const T* dy;
  T* dw;
  T* db;
  std::size_t batch;
  std::size_t in;
  std::size_t out;
  LAYERPIPE_HD void operator()(std::size_t k) const {
    const std::size_t o = k / in;
    const std::size_t i = k % in;
    T acc = T(0);
    for (std::size_t r = 0; r < batch; ++r) acc += dy[r * out + o] * x[r * in + i];
    dw[k] += acc;
    if (i == 0) {
      T bias = T(0);
      for (std::size_t r = 0; r < batch; ++r) bias += dy[r * out + o];
      db[o] += bias;
    }
  }
};
}  // namespace detail

/// y = x W^T + b: y[r, o] = b[o] + sum_i W[o, i] x[r, i]. Throws unless x.cols == w.cols (the
/// fan-in), b.size() == w.rows, y is x.rows x w.rows and the batch is not empty.
template <class Policy, class T>
void dense_forward(const Policy& policy, matrix_view<const std::type_identity_t<T>> w,
                   std::span<const std::type_identity_t<T>> b,
                   matrix_view<const std::type_identity_t<T>> x, matrix_view<T> y) {
  constexpr const char* where = "nn::dense_forward";
  nn::detail::require_batch(where, "x", x.rows);
  nn::detail::require_equal(where, "input features must equal the layer's fan-in", "x.cols", x.cols,
                            "w.cols", w.cols);
  nn::detail::require_equal(where, "the bias needs one element per output", "b.size", b.size(),
                            "w.rows", w.rows);
  nn::detail::require_equal(where, "the output needs one row per input row", "y.rows", y.rows,
                            "x.rows", x.rows);
  nn::detail::require_equal(where, "the output needs one column per layer output", "y.cols", y.cols,
                            "w.rows", w.rows);
  thrust::for_each_n(policy, thrust::counting_iterator<std::size_t>(0), y.size(),
                     detail::dense_forward_at<T>{w.data, b.data(), x.data, y.data, w.cols, w.rows});
}

/// dx = dy W: the gradient with respect to the layer's input. Throws unless dy.cols == w.rows,
/// dx is dy.rows x w.cols and the batch is not empty.
template <class Policy, class T>
void dense_backward_input(const Policy& policy, matrix_view<const std::type_identity_t<T>> w,
                          matrix_view<const std::type_identity_t<T>> dy, matrix_view<T> dx) {
  constexpr const char* where = "nn::dense_backward_input";
  nn::detail::require_batch(where, "dy", dy.rows);
  nn::detail::require_equal(where, "the output gradient needs one column per layer output",
                            "dy.cols", dy.cols, "w.rows", w.rows);
  nn::detail::require_equal(where, "the input gradient needs one row per output-gradient row",
                            "dx.rows", dx.rows, "dy.rows", dy.rows);
  nn::detail::require_equal(where, "input features must equal the layer's fan-in", "dx.cols",
                            dx.cols, "w.cols", w.cols);
  thrust::for_each_n(policy, thrust::counting_iterator<std::size_t>(0), dx.size(),
                     detail::dense_input_gradient_at<T>{w.data, dy.data, dx.data, w.cols, w.rows});
}

/// dW += dy^T x and db += the column sums of dy. It accumulates, so the micro-batches of one
/// step add up: zero dw and db (thrust::fill) before the first. Throws unless x and dy have the
/// same non-zero batch, dw is dy.cols x x.cols (x.cols is the fan-in) and db.size() == dy.cols.
template <class Policy, class T>
void dense_backward_weight(const Policy& policy, matrix_view<const std::type_identity_t<T>> x,
                           matrix_view<const std::type_identity_t<T>> dy, matrix_view<T> dw,
                           std::span<T> db) {
  constexpr const char* where = "nn::dense_backward_weight";
  nn::detail::require_batch(where, "x", x.rows);
  nn::detail::require_equal(where, "the input and the output gradient need the same batch",
                            "x.rows", x.rows, "dy.rows", dy.rows);
  nn::detail::require_equal(where, "input features must equal the layer's fan-in", "x.cols", x.cols,
                            "dw.cols", dw.cols);
  nn::detail::require_equal(where, "the weight gradient needs one row per layer output", "dw.rows",
                            dw.rows, "dy.cols", dy.cols);
  nn::detail::require_equal(where, "the bias gradient needs one element per layer output",
                            "db.size", db.size(), "dy.cols", dy.cols);
  thrust::for_each_n(policy, thrust::counting_iterator<std::size_t>(0), dw.size(),
                     detail::dense_weight_gradient_at<T>{x.data, dy.data, dw.data, db.data(), x.rows,
                                                         x.cols, dy.cols});
}

}  // namespace layerpipe::nn
