// layerpipe/nn/loss.hpp — losses at the end of a network, with their gradients, written once
// on Thrust for every backend: softmax cross-entropy over class labels and mean squared error.
//
// Conventions (batch B, C classes or F features, views from nn/matrix.hpp):
//   softmax cross-entropy: L = (1/B) sum_r [log sum_c exp(z[r, c]) - z[r, label[r]]],
//     dL/dz[r, c] = (softmax(z[r])[c] - [c == label[r]]) / B. Rows are shifted by their maximum,
//     so logits of 1e3 and more neither overflow nor lose the loss.
//   mean squared error: L = (1/(B F)) sum (y - t)^2, dL/dy = 2 (y - t) / (B F).
// Each row is summed in a fixed order by one thread and the rows are then reduced, so the loss
// and the gradient are bitwise reproducible on the CPP system. Labels are int in [0, C); they are
// checked (with a small reduction on the caller's policy) before anything else is launched, like
// every shape: a violation throws layerpipe::error naming the rule and the values.
//
//   namespace nn = layerpipe::nn;
//   float loss = nn::softmax_cross_entropy_loss(thrust::cpp::par, logits, labels);
//   nn::softmax_cross_entropy_gradient(thrust::cpp::par, logits, labels, dlogits);
//   float mse = nn::mse_loss(thrust::cpp::par, y, target);
//   nn::mse_gradient(thrust::cpp::par, y, target, dy);
#pragma once

#include <layerpipe/core/config.hpp>
#include <layerpipe/nn/detail/checks.hpp>
#include <layerpipe/nn/matrix.hpp>

#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include <cmath>
#include <cstddef>
#include <span>
#include <type_traits>

namespace layerpipe::nn {

namespace detail {
/// A label outside [0, classes), or row == batch when there is none.
struct bad_label {
  std::size_t row;
  int label;
};

struct find_bad_label {
  const int* labels;
  std::size_t classes;
  std::size_t none;
  LAYERPIPE_HD bad_label operator()(std::size_t r) const {
    const int l = labels[r];
    const bool ok = l >= 0 && static_cast<std::size_t>(l) < classes;
    return ok ? bad_label{none, 0} : bad_label{r, l};
  }
};

/// Keeps the earliest bad row, so the reported one does not depend on the reduction order.
struct first_bad_label {
  LAYERPIPE_HD bad_label operator()(const bad_label& a, const bad_label& b) const {
    return a.row <= b.row ? a : b;
  }
};

template <class Policy, class T>
void check_cross_entropy(const char* where, const Policy& policy, matrix_view<const T> logits,
                         std::span<const int> labels) {
  nn::detail::require_batch(where, "logits", logits.rows);
  nn::detail::require_equal(where, "one label per row", "labels.size", labels.size(), "logits.rows",
                            logits.rows);
  const std::size_t n = logits.rows;
  const bad_label bad = thrust::transform_reduce(
      policy, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(n),
      find_bad_label{labels.data(), logits.cols, n}, bad_label{n, 0}, first_bad_label{});
  if (bad.row != n) {
    layerpipe::detail::fail(where, ": a label must be a class index in [0, classes), got label ",
                            bad.label, " at row ", bad.row, " with classes = ", logits.cols);
  }
}

/// log sum_c exp(z[r, c]) - z[r, label[r]] for row r, shifted by the row maximum.
template <class T>
struct cross_entropy_row {
  const T* z;
  const int* labels;
  std::size_t classes;
  LAYERPIPE_HD T operator()(std::size_t r) const {
    const T* row = z + r * classes;
    T m = row[0];
    for (std::size_t c = 1; c < classes; ++c) m = row[c] > m ? row[c] : m;
    T sum = T(0);
    for (std::size_t c = 0; c < classes; ++c) sum += std::exp(row[c] - m);
    return std::log(sum) + m - row[labels[r]];
  }
};

/// Writes row r of (softmax(z) - onehot(label)) * scale.
template <class T>
struct cross_entropy_gradient_row {
  const T* z;
  const int* labels;
  T* dz;
  std::size_t classes;
  T scale;
  LAYERPIPE_HD void operator()(std::size_t r) const {
    const T* row = z + r * classes;
    T* out = dz + r * classes;
    T m = row[0];
    for (std::size_t c = 1; c < classes; ++c) m = row[c] > m ? row[c] : m;
    T sum = T(0);
    for (std::size_t c = 0; c < classes; ++c) sum += std::exp(row[c] - m);
    const std::size_t label = static_cast<std::size_t>(labels[r]);
    for (std::size_t c = 0; c < classes; ++c) {
      const T p = std::exp(row[c] - m) / sum;
      out[c] = (p - (c == label ? T(1) : T(0))) * scale;
    }
  }
};

/// sum_c (y[r, c] - t[r, c])^2 for row r.
template <class T>
struct squared_error_row {
  const T* y;
  const T* t;
  std::size_t cols;
  LAYERPIPE_HD T operator()(std::size_t r) const {
    T sum = T(0);
    for (std::size_t c = r * cols; c < (r + 1) * cols; ++c) sum += (y[c] - t[c]) * (y[c] - t[c]);
    return sum;
  }
};

template <class T>
struct squared_error_gradient {
  T scale;
  LAYERPIPE_HD T operator()(T y, T t) const { return scale * (y - t); }
};

template <class T>
void check_mse(const char* where, matrix_view<const T> y, matrix_view<const T> t) {
  nn::detail::require_batch(where, "y", y.rows);
  if (y.rows != t.rows || y.cols != t.cols) {
    layerpipe::detail::fail(where, ": the prediction and the target need the same shape, got y ",
                            y.rows, " x ", y.cols, " and target ", t.rows, " x ", t.cols);
  }
}
}  // namespace detail

/// Mean softmax cross-entropy of the rows of `logits` (batch x classes) against `labels` (one
/// int in [0, classes) per row). Throws on an empty batch, a label count other than the batch,
/// or a label out of range.
template <class Policy, class T>
std::remove_const_t<T> softmax_cross_entropy_loss(const Policy& policy, matrix_view<T> logits,
                                                  std::span<const int> labels) {
  using value = std::remove_const_t<T>;
  const matrix_view<const value> z = logits;
  detail::check_cross_entropy<Policy, value>("nn::softmax_cross_entropy_loss", policy, z, labels);
  const value total = thrust::transform_reduce(
      policy, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(z.rows),
      detail::cross_entropy_row<value>{z.data, labels.data(), z.cols}, value(0), thrust::plus<value>{});
  return total / static_cast<value>(z.rows);
}

/// dlogits = (softmax(logits) - onehot(labels)) / batch, the gradient of
/// softmax_cross_entropy_loss. dlogits has the shape of logits (and may be logits).
template <class Policy, class T>
void softmax_cross_entropy_gradient(const Policy& policy, matrix_view<const std::type_identity_t<T>> logits,
                                    std::span<const int> labels, matrix_view<T> dlogits) {
  constexpr const char* where = "nn::softmax_cross_entropy_gradient";
  detail::check_cross_entropy<Policy, T>(where, policy, logits, labels);
  nn::detail::require_equal(where, "the gradient has the shape of the logits", "dlogits.rows",
                            dlogits.rows, "logits.rows", logits.rows);
  nn::detail::require_equal(where, "the gradient has the shape of the logits", "dlogits.cols",
                            dlogits.cols, "logits.cols", logits.cols);
  thrust::for_each_n(policy, thrust::counting_iterator<std::size_t>(0), logits.rows,
                     detail::cross_entropy_gradient_row<T>{logits.data, labels.data(), dlogits.data,
                                                           logits.cols, T(1) / static_cast<T>(logits.rows)});
}

/// Mean squared error over every element of y and target (same shape, non-empty batch).
template <class Policy, class T>
std::remove_const_t<T> mse_loss(const Policy& policy, matrix_view<T> y,
                                matrix_view<const std::remove_const_t<T>> target) {
  using value = std::remove_const_t<T>;
  const matrix_view<const value> p = y;
  detail::check_mse<value>("nn::mse_loss", p, target);
  const value total = thrust::transform_reduce(
      policy, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(p.rows),
      detail::squared_error_row<value>{p.data, target.data, p.cols}, value(0), thrust::plus<value>{});
  return total / static_cast<value>(p.size());
}

/// dy = 2 (y - target) / (batch * features), the gradient of mse_loss; dy has the shape of y
/// (and may be y).
template <class Policy, class T>
void mse_gradient(const Policy& policy, matrix_view<const std::type_identity_t<T>> y,
                  matrix_view<const std::type_identity_t<T>> target, matrix_view<T> dy) {
  constexpr const char* where = "nn::mse_gradient";
  detail::check_mse<T>(where, y, target);
  nn::detail::require_equal(where, "the gradient has the shape of y", "dy.rows", dy.rows, "y.rows",
                            y.rows);
  nn::detail::require_equal(where, "the gradient has the shape of y", "dy.cols", dy.cols, "y.cols",
                            y.cols);
  thrust::transform(policy, y.data, y.data + y.size(), target.data, dy.data,
                    detail::squared_error_gradient<T>{T(2) / static_cast<T>(y.size())});
}

}  // namespace layerpipe::nn
