// layerpipe/nn/activation.hpp — element-wise activations (ReLU, tanh) and their backward
// passes, written once on Thrust for every backend.
//
// All tensors are batch x features views (nn/matrix.hpp) of one shape; outputs may alias inputs
// (in place). The policy is the caller's: thrust::cpp::par / thrust::omp::par on the host,
// thrust::cuda::par_nosync.on(stream) on a device. Wrong shapes or an empty batch throw
// layerpipe::error before anything is launched.
//
//   namespace nn = layerpipe::nn;
//   nn::relu_forward(thrust::cpp::par, x, y);          // y = max(x, 0)
//   nn::relu_backward(thrust::cpp::par, x, dy, dx);    // dx = dy where x > 0, else 0
//   nn::tanh_forward(thrust::cpp::par, x, y);          // y = tanh(x)
//   nn::tanh_backward(thrust::cpp::par, y, dy, dx);    // dx = dy (1 - y^2), from the output y
#pragma once

#include <layerpipe/core/config.hpp>
#include <layerpipe/nn/detail/checks.hpp>
#include <layerpipe/nn/matrix.hpp>

#include <thrust/transform.h>

#include <cmath>
#include <type_traits>

namespace layerpipe::nn {

/// max(x, 0).
struct relu {
  template <class T>
  LAYERPIPE_HD T operator()(T x) const {
    return x > T(0) ? x : T(0);
  }
};

/// dy where the forward input was positive, else 0 (the subgradient at 0 is taken as 0).
struct relu_gradient {
  template <class T>
  LAYERPIPE_HD T operator()(T x, T dy) const {
    return x > T(0) ? dy : T(0);
  }
};

/// tanh(x).
struct tanh_activation {
  template <class T>
  LAYERPIPE_HD T operator()(T x) const {
    return std::tanh(x);
  }
};

/// dy (1 - y^2), where y = tanh(x) is the forward output.
struct tanh_gradient {
  template <class T>
  LAYERPIPE_HD T operator()(T y, T dy) const {
    return dy * (T(1) - y * y);
  }
};

namespace detail {
template <class T>
void require_same_shape(const char* where, const char* a_name, matrix_view<const T> a,
                        const char* b_name, matrix_view<const T> b) {
  nn::detail::require_batch(where, a_name, a.rows);
  if (a.rows != b.rows || a.cols != b.cols) {
    layerpipe::detail::fail(where, ": element-wise tensors need the same shape, got ", a_name, " ",
                            a.rows, " x ", a.cols, " and ", b_name, " ", b.rows, " x ", b.cols);
  }
}

template <class Policy, class T, class F>
void unary(const char* where, const Policy& policy, matrix_view<const T> x, matrix_view<T> y, F f) {
  require_same_shape<T>(where, "x", x, "y", y);
  thrust::transform(policy, x.data, x.data + x.size(), y.data, f);
}

template <class Policy, class T, class F>
void binary(const char* where, const char* a_name, const Policy& policy, matrix_view<const T> a,
            matrix_view<const T> dy, matrix_view<T> dx, F f) {
  require_same_shape<T>(where, a_name, a, "dy", dy);
  require_same_shape<T>(where, "dy", dy, "dx", dx);
  thrust::transform(policy, a.data, a.data + a.size(), dy.data, dx.data, f);
}
}  // namespace detail

/// y = max(x, 0); x and y have the same shape (y may be x).
template <class Policy, class T>
void relu_forward(const Policy& policy, matrix_view<const std::type_identity_t<T>> x, matrix_view<T> y) {
  detail::unary<Policy, T>("nn::relu_forward", policy, x, y, relu{});
}

/// dx = dy where x > 0, else 0, from the forward input x; x, dy and dx have one shape.
template <class Policy, class T>
void relu_backward(const Policy& policy, matrix_view<const std::type_identity_t<T>> x,
                   matrix_view<const std::type_identity_t<T>> dy, matrix_view<T> dx) {
  detail::binary<Policy, T>("nn::relu_backward", "x", policy, x, dy, dx, relu_gradient{});
}

/// y = tanh(x); x and y have the same shape (y may be x).
template <class Policy, class T>
void tanh_forward(const Policy& policy, matrix_view<const std::type_identity_t<T>> x, matrix_view<T> y) {
  detail::unary<Policy, T>("nn::tanh_forward", policy, x, y, tanh_activation{});
}

/// dx = dy (1 - y^2) from the forward OUTPUT y (no need to keep x); y, dy and dx have one shape.
template <class Policy, class T>
void tanh_backward(const Policy& policy, matrix_view<const std::type_identity_t<T>> y,
                   matrix_view<const std::type_identity_t<T>> dy, matrix_view<T> dx) {
  detail::binary<Policy, T>("nn::tanh_backward", "y", policy, y, dy, dx, tanh_gradient{});
}

}  // namespace layerpipe::nn
