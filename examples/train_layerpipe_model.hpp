// train_layerpipe_model.hpp — the model and data of the flagship example, shared by
// layerpipe-train (train_layerpipe.cpp: host, threads executor) and layerpipe-train-cuda
// (train_layerpipe_cuda.cu: CUDA executor). The layer maths is written once, templated on the
// Thrust policy: thrust::cpp::par on host vectors, thrust::cuda::par_nosync.on(stream) on
// device memory, so both programs run the same arithmetic on the same data.
//
//   layerpipe_train::layer_forward_into(thrust::cpp::par, params, l, x, y, rows);   // host
//   layerpipe_train::layer_forward_into(thrust::cuda::par_nosync.on(s), dparams, l, dx, dy, rows);
//
// The network: 8 dense layers of width 32 (the last one with 8 outputs), tanh after all but the
// last, partitioned over 4 stages by graph::chain + balanced_partition, with LayerPipe's
// systolic staleness per layer from derive_delays. A layer's parameters are W (out × in,
// row-major) then b, in one vector.
#pragma once

#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/nn/activation.hpp>
#include <layerpipe/nn/dense.hpp>
#include <layerpipe/nn/matrix.hpp>
#include <layerpipe/retime/layerpipe.hpp>

#include <thrust/system/cpp/execution_policy.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace layerpipe_train {

namespace nn = layerpipe::nn;
using real = float;
using matrix = nn::matrix_view<real>;
using cmatrix = nn::matrix_view<const real>;

inline constexpr int layers_total = 8;
inline constexpr int stages_total = 4;
inline constexpr std::size_t width = 32;   // input and hidden width
inline constexpr std::size_t outputs = 8;  // regression targets

inline std::size_t fan_in(int) { return width; }
inline std::size_t fan_out(int l) { return l + 1 == layers_total ? outputs : width; }
inline bool has_tanh(int l) { return l + 1 < layers_total; }
inline std::size_t layer_size(int l) { return fan_out(l) * fan_in(l) + fan_out(l); }

/// Parameters of one dense layer, W (out × in, row-major) then b, in one vector: the unit the
/// weight histories track.
inline std::vector<real> random_layer(int l, std::mt19937_64& rng, double gain) {
  const std::size_t in = fan_in(l), out = fan_out(l);
  std::normal_distribution<double> normal(0.0, gain / std::sqrt(static_cast<double>(in)));
  std::vector<real> p(out * in + out, real(0));
  for (std::size_t i = 0; i < out * in; ++i) p[i] = static_cast<real>(normal(rng));
  return p;
}

inline cmatrix weights_of(const std::vector<real>& p, int l) { return {p.data(), fan_out(l), fan_in(l)}; }
inline std::span<const real> bias_of(const std::vector<real>& p, int l) {
  return std::span<const real>(p).subspan(fan_out(l) * fan_in(l), fan_out(l));
}

// ---- the layer maths, once for every Thrust system ----------------------------------------

/// y = act(W x + b) for layer l: params as above, x rows × fan_in, y rows × fan_out.
template <class Policy>
void layer_forward_into(const Policy& policy, const real* params, int l, const real* x, real* y, std::size_t rows) {
  const std::size_t in = fan_in(l), out = fan_out(l);
  const matrix yv{y, rows, out};
  nn::dense_forward(policy, cmatrix{params, out, in}, std::span<const real>(params + out * in, out), cmatrix{x, rows, in},
                    yv);
  if (has_tanh(l)) nn::tanh_forward(policy, cmatrix(yv), yv);
}

/// g = dL/d(pre-activation), in place, from dL/dy and the forward output y (tanh layers only).
template <class Policy>
void layer_activation_backward(const Policy& policy, int l, const real* y, real* g, std::size_t rows) {
  if (!has_tanh(l)) return;
  const std::size_t out = fan_out(l);
  const matrix gv{g, rows, out};
  nn::tanh_backward(policy, cmatrix{y, rows, out}, cmatrix(gv), gv);
}

/// grad += the parameter gradient (dW then db, like params) from input x and g (the output of
/// layer_activation_backward).
template <class Policy>
void layer_weight_gradient(const Policy& policy, int l, const real* x, const real* g, real* grad, std::size_t rows) {
  const std::size_t in = fan_in(l), out = fan_out(l);
  nn::dense_backward_weight(policy, cmatrix{x, rows, in}, cmatrix{g, rows, out}, matrix{grad, out, in},
                            std::span<real>(grad + out * in, out));
}

/// dx = g W with the weights `w` (the first out × in entries of a parameter vector).
template <class Policy>
void layer_input_gradient(const Policy& policy, int l, const real* w, const real* g, real* dx, std::size_t rows) {
  const std::size_t in = fan_in(l), out = fan_out(l);
  nn::dense_backward_input(policy, cmatrix{w, out, in}, cmatrix{g, rows, out}, matrix{dx, rows, in});
}

/// y = act(W x + b) for one layer, on the host through Thrust's CPP system.
inline std::vector<real> layer_forward(const std::vector<real>& p, int l, const std::vector<real>& x, std::size_t rows) {
  std::vector<real> y(rows * fan_out(l));
  layer_forward_into(thrust::cpp::par, p.data(), l, x.data(), y.data(), rows);
  return y;
}

// ---- data ---------------------------------------------------------------------------------

struct batch_data {
  std::vector<real> x, target;  // target: regression only
  std::vector<int> labels;      // classification only
};

/// Gaussian mixture: each of the `outputs` classes owns `modes_per_class` random centres in
/// R^width (so no class is linearly separable from the rest); a point is its centre plus
/// N(0, noise²) per coordinate, enough noise that the classes overlap (accuracy < 100%).
inline constexpr int modes_per_class = 2;
inline constexpr double centre_scale = 0.5, class_noise = 1.0;

inline std::vector<std::vector<real>> make_centres() {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0.0, centre_scale);
  std::vector<std::vector<real>> c(outputs * modes_per_class, std::vector<real>(width));
  for (auto& v : c)
    for (auto& x : v) x = static_cast<real>(normal(rng));
  return c;
}

inline batch_data make_class_batch(const std::vector<std::vector<real>>& centres, std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, class_noise);
  std::uniform_int_distribution<std::size_t> pick(0, centres.size() - 1);
  batch_data b;
  b.x.resize(rows * width);
  b.labels.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t c = pick(rng);
    b.labels[r] = static_cast<int>(c % outputs);
    for (std::size_t i = 0; i < width; ++i) b.x[r * width + i] = static_cast<real>(centres[c][i] + normal(rng));
  }
  return b;
}

/// The teacher's labels for fresh N(0, 1) inputs; the same seed gives every run the same data.
inline batch_data make_batch(const std::vector<std::vector<real>>& teacher, std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  batch_data b;
  b.x.resize(rows * width);
  for (auto& v : b.x) v = static_cast<real>(normal(rng));
  std::vector<real> a = b.x;
  for (int l = 0; l < layers_total; ++l) a = layer_forward(teacher[static_cast<std::size_t>(l)], l, a, rows);
  b.target = std::move(a);
  return b;
}

/// The teacher (regression labels) and the student's initial weights, from fixed seeds.
inline std::pair<std::vector<std::vector<real>>, std::vector<std::vector<real>>> teacher_and_init() {
  std::mt19937_64 rng_teacher(7), rng_student(11);
  std::vector<std::vector<real>> teacher, init;
  for (int l = 0; l < layers_total; ++l) {
    teacher.push_back(random_layer(l, rng_teacher, 1.5));
    init.push_back(random_layer(l, rng_student, 1.0));
  }
  return {std::move(teacher), std::move(init)};
}

/// Seed of micro-batch m of window w: every program and run trains on the same data.
inline std::uint64_t batch_seed(int w, int m) {
  return 1000003ULL * static_cast<std::uint64_t>(w) + static_cast<std::uint64_t>(m) + 17;
}

// ---- planning: partition and delays from the library ---------------------------------------

struct model_plan {
  layerpipe::partition part;
  std::vector<std::int64_t> delays;  // systolic staleness per layer, in updates
};

inline model_plan plan_model(std::size_t batch) {
  std::vector<layerpipe::layer> spec;
  for (int l = 0; l < layers_total; ++l) {
    const double params = static_cast<double>(fan_in(l) * fan_out(l) + fan_out(l));
    spec.push_back({"dense" + std::to_string(l), 1.0, 1.0, 1.0, static_cast<double>(batch * fan_out(l) * sizeof(real)),
                    params * sizeof(real)});
  }
  const layerpipe::graph g = layerpipe::graph::chain(spec);
  layerpipe::partition part = layerpipe::balanced_partition(g, stages_total);
  const layerpipe::delay_plan plan = layerpipe::derive_delays(g, part);
  std::vector<std::int64_t> delays;
  for (int l = 0; l < layers_total; ++l) delays.push_back(plan.staleness_updates(l, layerpipe::pipelining_style::systolic));
  return {std::move(part), std::move(delays)};
}

// ---- small statistics -----------------------------------------------------------------------

inline double norm_of_difference(std::span<const real> a, std::span<const real> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    s += d * d;
  }
  return std::sqrt(s);
}

inline double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

}  // namespace layerpipe_train
