// nn/ layers: dense, ReLU, tanh, softmax cross-entropy and MSE against hand-computed values,
// finite-difference gradient checks, numerical stability, every size error and determinism.
// Written once: built with THRUST_DEVICE_SYSTEM=CPP by g++ (layerpipe_thrust_cpp_tests) and
// wrapped in a .cu file for CUDA (layerpipe_thrust_cuda_tests). thrust::device follows the
// device system, so the same calls run on the host or on a GPU.
#include "layerpipe_test.hpp"

#include <layerpipe/nn/activation.hpp>
#include <layerpipe/nn/dense.hpp>
#include <layerpipe/nn/loss.hpp>
#include <layerpipe/nn/matrix.hpp>

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/fill.h>
#include <thrust/system/cpp/execution_policy.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {
namespace nn = layerpipe::nn;
using Catch::Contains;

template <class T>
using dvec = thrust::device_vector<T>;

template <class T>
dvec<T> dev(const std::vector<T>& v) {
  return dvec<T>(v.begin(), v.end());
}

template <class T>
std::vector<T> host(const dvec<T>& v) {
  std::vector<T> h(v.size());
  thrust::copy(v.begin(), v.end(), h.begin());
  return h;
}

// Views with no rows, to check the empty-batch rule.
template <class T>
nn::matrix_view<const T> empty_batch(std::size_t cols) {
  return {nullptr, 0, cols};
}
template <class T>
nn::matrix_view<T> empty_output(std::size_t cols) {
  return {nullptr, 0, cols};
}

// Loss of dense (+ tanh) + MSE for given host values; used by the finite-difference checks.
double dense_tanh_mse_loss(const std::vector<double>& w, const std::vector<double>& b,
                           const std::vector<double>& x, const std::vector<double>& t,
                           std::size_t batch, std::size_t in, std::size_t out) {
  auto dw = dev(w), db = dev(b), dx = dev(x), dt = dev(t);
  dvec<double> z(batch * out);
  nn::dense_forward(thrust::device, nn::as_matrix(dw, out, in), nn::as_span(db), nn::as_matrix(dx, batch, in),
                    nn::as_matrix(z, batch, out));
  nn::tanh_forward(thrust::device, nn::as_matrix(z, batch, out), nn::as_matrix(z, batch, out));
  return nn::mse_loss(thrust::device, nn::as_matrix(z, batch, out), nn::as_matrix(dt, batch, out));
}

double dense_softmax_ce_loss(const std::vector<double>& w, const std::vector<double>& b,
                             const std::vector<double>& x, const dvec<int>& labels, std::size_t batch,
                             std::size_t in, std::size_t out) {
  auto dw = dev(w), db = dev(b), dx = dev(x);
  dvec<double> z(batch * out);
  nn::dense_forward(thrust::device, nn::as_matrix(dw, out, in), nn::as_span(db), nn::as_matrix(dx, batch, in),
                    nn::as_matrix(z, batch, out));
  return nn::softmax_cross_entropy_loss(thrust::device, nn::as_matrix(z, batch, out), nn::as_span(labels));
}

// Central difference of f with respect to every element of v, against the analytic gradient.
template <class F>
void check_gradient(std::vector<double>& v, const std::vector<double>& analytic, F f) {
  REQUIRE(v.size() == analytic.size());
  constexpr double h = 1e-5;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = f();
    v[i] = keep - h;
    const double down = f();
    v[i] = keep;
    const double numeric = (up - down) / (2 * h);
    INFO("element " << i << ": analytic " << analytic[i] << ", numeric " << numeric);
    REQUIRE(std::fabs(numeric - analytic[i]) <= 1e-7 * (1.0 + std::fabs(analytic[i])));
  }
}

// Deterministic pseudo-random values in [-1, 1).
std::vector<double> filled(std::size_t n, std::uint32_t seed) {
  std::vector<double> v(n);
  for (auto& e : v) {
    seed = seed * 1664525u + 1013904223u;
    e = static_cast<double>(seed >> 8) / static_cast<double>(1u << 23) - 1.0;
  }
  return v;
}

template <class T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
}  // namespace

TEST_CASE("dense forward and backward match hand-computed values", "[nn][dense]") {
  // W is out x in = 2 x 3, x is batch x in = 2 x 3.
  auto w = dev<double>({1, 2, 3, 4, 5, 6});
  auto b = dev<double>({0.5, -1});
  auto x = dev<double>({1, 0, -1, 2, 1, 0});
  dvec<double> y(4);
  nn::dense_forward(thrust::device, nn::as_matrix(w, 2, 3), nn::as_span(b), nn::as_matrix(x, 2, 3),
                    nn::as_matrix(y, 2, 2));
  REQUIRE(host(y) == std::vector<double>{-1.5, -3, 4.5, 12});

  auto dy = dev<double>({1, -1, 0.5, 2});
  dvec<double> dx(6);
  nn::dense_backward_input(thrust::device, nn::as_matrix(w, 2, 3), nn::as_matrix(dy, 2, 2), nn::as_matrix(dx, 2, 3));
  REQUIRE(host(dx) == std::vector<double>{-3, -3, -3, 8.5, 11, 13.5});

  dvec<double> dw(6, 0.0), db(2, 0.0);
  nn::dense_backward_weight(thrust::device, nn::as_matrix(x, 2, 3), nn::as_matrix(dy, 2, 2), nn::as_matrix(dw, 2, 3),
                            nn::as_span(db));
  REQUIRE(host(dw) == std::vector<double>{2, 0.5, -1, 3, 2, 1});
  REQUIRE(host(db) == std::vector<double>{1.5, 1});

  SECTION("the weight gradient accumulates over micro-batches") {
    nn::dense_backward_weight(thrust::device, nn::as_matrix(x, 2, 3), nn::as_matrix(dy, 2, 2),
                              nn::as_matrix(dw, 2, 3), nn::as_span(db));
    REQUIRE(host(dw) == std::vector<double>{4, 1, -2, 6, 4, 2});
    REQUIRE(host(db) == std::vector<double>{3, 2});
  }
}

TEST_CASE("an explicit host policy runs the same layers on std::vector", "[nn][dense]") {
  // thrust::cpp::par on plain host memory, whatever the device system: the library never picks
  // a system itself.
  std::vector<double> w{1, 2, 3, 4, 5, 6}, b{0.5, -1}, x{1, 0, -1, 2, 1, 0}, y(4), t{-1.5, -3, 4.5, 11};
  nn::dense_forward(thrust::cpp::par, nn::as_matrix(w, 2, 3), nn::as_span(b), nn::as_matrix(x, 2, 3),
                    nn::as_matrix(y, 2, 2));
  REQUIRE(y == std::vector<double>{-1.5, -3, 4.5, 12});
  REQUIRE(nn::mse_loss(thrust::cpp::par, nn::as_matrix(y, 2, 2), nn::as_matrix(t, 2, 2)) == 0.25);
}

TEST_CASE("ReLU forward and backward", "[nn][activation]") {
  auto x = dev<double>({-1, 0, 2, 3, -0.5, 0.25});
  dvec<double> y(6);
  nn::relu_forward(thrust::device, nn::as_matrix(x, 2, 3), nn::as_matrix(y, 2, 3));
  REQUIRE(host(y) == std::vector<double>{0, 0, 2, 3, 0, 0.25});

  auto dy = dev<double>({1, 2, 3, 4, 5, 6});
  dvec<double> dx(6);
  nn::relu_backward(thrust::device, nn::as_matrix(x, 2, 3), nn::as_matrix(dy, 2, 3), nn::as_matrix(dx, 2, 3));
  REQUIRE(host(dx) == std::vector<double>{0, 0, 3, 4, 0, 6});

  nn::relu_forward(thrust::device, nn::as_matrix(x, 2, 3), nn::as_matrix(x, 2, 3));  // in place
  REQUIRE(host(x) == host(y));
}

TEST_CASE("tanh forward and backward", "[nn][activation]") {
  auto x = dev<double>({0, 1, -2, 0.5});
  dvec<double> y(4);
  nn::tanh_forward(thrust::device, nn::as_matrix(x, 2, 2), nn::as_matrix(y, 2, 2));
  const std::vector<double> expected{0, 0.76159415595576488812, -0.96402758007581688395, 0.46211715726000975850};
  const auto got = host(y);
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(expected[i]).epsilon(1e-15).margin(1e-15));

  auto dy = dev<double>({1, 2, 1, -1});
  dvec<double> dx(4);
  nn::tanh_backward(thrust::device, nn::as_matrix(y, 2, 2), nn::as_matrix(dy, 2, 2), nn::as_matrix(dx, 2, 2));
  const std::vector<double> slopes{1, 2 * (1 - expected[1] * expected[1]), 1 - expected[2] * expected[2],
                                   -(1 - expected[3] * expected[3])};
  const auto gx = host(dx);
  for (std::size_t i = 0; i < gx.size(); ++i) REQUIRE(gx[i] == Approx(slopes[i]).epsilon(1e-14));
}

TEST_CASE("softmax cross-entropy loss and gradient match hand-computed values", "[nn][loss]") {
  // Row 0: logits (0, 0), label 0: softmax (1/2, 1/2). Row 1: logits (0, ln 3), label 1:
  // softmax (1/4, 3/4). Loss = (ln 2 + ln 4/3) / 2 = ln(8/3) / 2.
  auto z = dev<double>({0, 0, 0, std::log(3.0)});
  auto labels = dev<int>({0, 1});
  const double loss = nn::softmax_cross_entropy_loss(thrust::device, nn::as_matrix(z, 2, 2), nn::as_span(labels));
  REQUIRE(loss == Approx(std::log(8.0 / 3.0) / 2).epsilon(1e-15));

  dvec<double> dz(4);
  nn::softmax_cross_entropy_gradient(thrust::device, nn::as_matrix(z, 2, 2), nn::as_span(labels), nn::as_matrix(dz, 2, 2));
  const std::vector<double> expected{-0.25, 0.25, 0.125, -0.125};
  const auto got = host(dz);
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(expected[i]).epsilon(1e-15).margin(1e-16));
}

TEMPLATE_TEST_CASE("softmax cross-entropy is stable for logits of 1e3", "[nn][loss]", float, double) {
  using T = TestType;
  // Row 0: two equal huge logits, label 0: ln 2. Row 1: label on a logit 1000 below the
  // maximum: loss 1000; exp(-1000) underflows harmlessly to 0.
  auto z = dev<T>({T(1000), T(1000), T(-1000), T(1000), T(0), T(-1000)});
  auto labels = dev<int>({0, 1});
  const T loss = nn::softmax_cross_entropy_loss(thrust::device, nn::as_matrix(z, 2, 3), nn::as_span(labels));
  REQUIRE(std::isfinite(loss));
  REQUIRE(loss == Approx((std::log(2.0) + 1000.0) / 2).epsilon(1e-6));

  dvec<T> dz(6);
  nn::softmax_cross_entropy_gradient(thrust::device, nn::as_matrix(z, 2, 3), nn::as_span(labels), nn::as_matrix(dz, 2, 3));
  const std::vector<double> expected{-0.25, 0.25, 0, 0.5, -0.5, 0};
  const auto got = host(dz);
  for (std::size_t i = 0; i < got.size(); ++i) {
    REQUIRE(std::isfinite(got[i]));
    REQUIRE(static_cast<double>(got[i]) == Approx(expected[i]).margin(1e-6));
  }
}

TEST_CASE("MSE loss and gradient match hand-computed values", "[nn][loss]") {
  auto y = dev<double>({1, 2, 3, 4});
  auto t = dev<double>({0, 2, 5, 4});
  // Squared errors 1, 0, 4, 0 over 4 elements.
  REQUIRE(nn::mse_loss(thrust::device, nn::as_matrix(y, 2, 2), nn::as_matrix(t, 2, 2)) == 1.25);
  dvec<double> dy(4);
  nn::mse_gradient(thrust::device, nn::as_matrix(y, 2, 2), nn::as_matrix(t, 2, 2), nn::as_matrix(dy, 2, 2));
  REQUIRE(host(dy) == std::vector<double>{0.5, 0, -1, 0});
}

TEST_CASE("dense + tanh + MSE gradients agree with finite differences", "[nn][gradient]") {
  constexpr std::size_t batch = 2, in = 3, out = 2;
  auto w = filled(out * in, 1), b = filled(out, 2), x = filled(batch * in, 3), t = filled(batch * out, 4);

  // Analytic: forward, then backward through MSE, tanh and dense.
  auto dw_ = dev(w), db_ = dev(b), dx_ = dev(x), dt_ = dev(t);
  dvec<double> a(batch * out), da(batch * out), gx(batch * in), gw(out * in, 0.0), gb(out, 0.0);
  nn::dense_forward(thrust::device, nn::as_matrix(dw_, out, in), nn::as_span(db_), nn::as_matrix(dx_, batch, in),
                    nn::as_matrix(a, batch, out));
  nn::tanh_forward(thrust::device, nn::as_matrix(a, batch, out), nn::as_matrix(a, batch, out));
  nn::mse_gradient(thrust::device, nn::as_matrix(a, batch, out), nn::as_matrix(dt_, batch, out), nn::as_matrix(da, batch, out));
  nn::tanh_backward(thrust::device, nn::as_matrix(a, batch, out), nn::as_matrix(da, batch, out), nn::as_matrix(da, batch, out));
  nn::dense_backward_weight(thrust::device, nn::as_matrix(dx_, batch, in), nn::as_matrix(da, batch, out),
                            nn::as_matrix(gw, out, in), nn::as_span(gb));
  nn::dense_backward_input(thrust::device, nn::as_matrix(dw_, out, in), nn::as_matrix(da, batch, out),
                           nn::as_matrix(gx, batch, in));

  const auto loss = [&] { return dense_tanh_mse_loss(w, b, x, t, batch, in, out); };
  SECTION("weights") { check_gradient(w, host(gw), loss); }
  SECTION("bias") { check_gradient(b, host(gb), loss); }
  SECTION("input") { check_gradient(x, host(gx), loss); }
}

TEST_CASE("dense + softmax cross-entropy gradients agree with finite differences", "[nn][gradient]") {
  constexpr std::size_t batch = 3, in = 3, out = 4;
  auto w = filled(out * in, 5), b = filled(out, 6), x = filled(batch * in, 7);
  auto labels = dev<int>({0, 3, 1});

  auto dw_ = dev(w), db_ = dev(b), dx_ = dev(x);
  dvec<double> z(batch * out), gx(batch * in), gw(out * in, 0.0), gb(out, 0.0);
  nn::dense_forward(thrust::device, nn::as_matrix(dw_, out, in), nn::as_span(db_), nn::as_matrix(dx_, batch, in),
                    nn::as_matrix(z, batch, out));
  nn::softmax_cross_entropy_gradient(thrust::device, nn::as_matrix(z, batch, out), nn::as_span(labels),
                                     nn::as_matrix(z, batch, out));  // in place
  nn::dense_backward_weight(thrust::device, nn::as_matrix(dx_, batch, in), nn::as_matrix(z, batch, out),
                            nn::as_matrix(gw, out, in), nn::as_span(gb));
  nn::dense_backward_input(thrust::device, nn::as_matrix(dw_, out, in), nn::as_matrix(z, batch, out),
                           nn::as_matrix(gx, batch, in));

  const auto loss = [&] { return dense_softmax_ce_loss(w, b, x, labels, batch, in, out); };
  SECTION("weights") { check_gradient(w, host(gw), loss); }
  SECTION("bias") { check_gradient(b, host(gb), loss); }
  SECTION("input") { check_gradient(x, host(gx), loss); }
}

TEST_CASE("same inputs give bitwise the same outputs", "[nn][determinism]") {
  constexpr std::size_t batch = 16, in = 32, out = 10;
  const auto w = dev(filled(out * in, 11)), b = dev(filled(out, 12)), x = dev(filled(batch * in, 13));
  std::vector<int> label_values(batch);
  for (std::size_t r = 0; r < batch; ++r) label_values[r] = static_cast<int>((r * 7) % out);
  const auto labels = dev(label_values);

  struct result {
    double loss;
    std::vector<double> z, gw, gb, gx;
  };
  const auto run = [&] {
    dvec<double> z(batch * out), dz(batch * out), gw(out * in, 0.0), gb(out, 0.0), gx(batch * in);
    nn::dense_forward(thrust::device, nn::as_matrix(w, out, in), nn::as_span(b), nn::as_matrix(x, batch, in),
                      nn::as_matrix(z, batch, out));
    const double loss = nn::softmax_cross_entropy_loss(thrust::device, nn::as_matrix(z, batch, out), nn::as_span(labels));
    nn::softmax_cross_entropy_gradient(thrust::device, nn::as_matrix(z, batch, out), nn::as_span(labels),
                                       nn::as_matrix(dz, batch, out));
    nn::dense_backward_weight(thrust::device, nn::as_matrix(x, batch, in), nn::as_matrix(dz, batch, out),
                              nn::as_matrix(gw, out, in), nn::as_span(gb));
    nn::dense_backward_input(thrust::device, nn::as_matrix(w, out, in), nn::as_matrix(dz, batch, out),
                             nn::as_matrix(gx, batch, in));
    return result{loss, host(z), host(gw), host(gb), host(gx)};
  };
  const result first = run();
  const result second = run();
  REQUIRE(std::memcmp(&first.loss, &second.loss, sizeof(double)) == 0);
  REQUIRE(bitwise_equal(first.z, second.z));
  REQUIRE(bitwise_equal(first.gw, second.gw));
  REQUIRE(bitwise_equal(first.gb, second.gb));
  REQUIRE(bitwise_equal(first.gx, second.gx));
  REQUIRE(first.loss > 0.0);  // a real run, not two empty ones
}

TEST_CASE("wrong sizes throw layerpipe::error naming the rule and the values", "[nn][errors]") {
  dvec<double> w(6, 1.0), b(2, 0.0), b3(3, 0.0), x(6, 1.0), x4(8, 1.0), y(4), y6(6), dw(6, 0.0), db(2, 0.0);
  const auto W = nn::as_matrix(w, 2, 3);
  const auto B = nn::as_span(b);
  const auto X = nn::as_matrix(x, 2, 3);
  const auto Y = nn::as_matrix(y, 2, 2);
  const auto DW = nn::as_matrix(dw, 2, 3);
  const auto DB = nn::as_span(db);

  SECTION("as_matrix") {
    REQUIRE_THROWS_WITH(nn::as_matrix(w, 2, 2), Contains("rows * cols") && Contains("size 6"));
  }
  SECTION("dense_forward") {
    REQUIRE_THROWS_WITH(nn::dense_forward(thrust::device, W, B, nn::as_matrix(x4, 2, 4), Y),
                        Contains("fan-in") && Contains("x.cols = 4, w.cols = 3"));
    REQUIRE_THROWS_WITH(nn::dense_forward(thrust::device, W, nn::as_span(b3), X, Y),
                        Contains("bias") && Contains("b.size = 3, w.rows = 2"));
    REQUIRE_THROWS_WITH(nn::dense_forward(thrust::device, W, B, X, nn::as_matrix(y, 1, 4)),
                        Contains("one row per input row") && Contains("y.rows = 1, x.rows = 2"));
    REQUIRE_THROWS_WITH(nn::dense_forward(thrust::device, W, B, X, nn::as_matrix(y6, 2, 3)),
                        Contains("one column per layer output") && Contains("y.cols = 3, w.rows = 2"));
    REQUIRE_THROWS_WITH(nn::dense_forward(thrust::device, W, B, empty_batch<double>(3), Y),
                        Contains("nn::dense_forward") && Contains("at least one row") && Contains("x.rows = 0"));
  }
  SECTION("dense_backward_input") {
    REQUIRE_THROWS_WITH(nn::dense_backward_input(thrust::device, W, nn::as_matrix(y6, 2, 3), nn::as_matrix(x, 2, 3)),
                        Contains("dy.cols = 3, w.rows = 2"));
    REQUIRE_THROWS_WITH(nn::dense_backward_input(thrust::device, W, Y, nn::as_matrix(x, 3, 2)),
                        Contains("dx.rows = 3, dy.rows = 2"));
    REQUIRE_THROWS_WITH(nn::dense_backward_input(thrust::device, W, Y, nn::as_matrix(x4, 2, 4)),
                        Contains("fan-in") && Contains("dx.cols = 4, w.cols = 3"));
    REQUIRE_THROWS_WITH(nn::dense_backward_input(thrust::device, W, empty_batch<double>(2), X),
                        Contains("at least one row") && Contains("dy.rows = 0"));
  }
  SECTION("dense_backward_weight") {
    REQUIRE_THROWS_WITH(nn::dense_backward_weight(thrust::device, X, nn::as_matrix(y, 1, 4), DW, DB),
                        Contains("same batch") && Contains("x.rows = 2, dy.rows = 1"));
    REQUIRE_THROWS_WITH(nn::dense_backward_weight(thrust::device, nn::as_matrix(x4, 2, 4), Y, DW, DB),
                        Contains("fan-in") && Contains("x.cols = 4, dw.cols = 3"));
    REQUIRE_THROWS_WITH(nn::dense_backward_weight(thrust::device, X, nn::as_matrix(y6, 2, 3), DW, DB),
                        Contains("dw.rows = 2, dy.cols = 3"));
    REQUIRE_THROWS_WITH(nn::dense_backward_weight(thrust::device, X, Y, DW, nn::as_span(b3)),
                        Contains("db.size = 3, dy.cols = 2"));
    REQUIRE_THROWS_WITH(nn::dense_backward_weight(thrust::device, empty_batch<double>(3), Y, DW, DB),
                        Contains("at least one row") && Contains("x.rows = 0"));
  }
  SECTION("activations") {
    REQUIRE_THROWS_WITH(nn::relu_forward(thrust::device, X, Y), Contains("same shape") && Contains("x 2 x 3 and y 2 x 2"));
    REQUIRE_THROWS_WITH(nn::tanh_forward(thrust::device, X, Y), Contains("same shape"));
    REQUIRE_THROWS_WITH(nn::relu_forward(thrust::device, empty_batch<double>(3), empty_output<double>(3)),
                        Contains("nn::relu_forward") && Contains("x.rows = 0"));
    REQUIRE_THROWS_WITH(nn::tanh_forward(thrust::device, empty_batch<double>(3), empty_output<double>(3)),
                        Contains("nn::tanh_forward") && Contains("x.rows = 0"));
    REQUIRE_THROWS_WITH(nn::relu_backward(thrust::device, X, Y, nn::as_matrix(y6, 2, 3)),
                        Contains("same shape") && Contains("x 2 x 3 and dy 2 x 2"));
    REQUIRE_THROWS_WITH(nn::tanh_backward(thrust::device, X, X, Y), Contains("same shape") && Contains("dy 2 x 3 and dx 2 x 2"));
  }
  SECTION("softmax cross-entropy") {
    auto good = dev<int>({0, 2});
    auto negative = dev<int>({0, -1});
    auto too_big = dev<int>({3, 1});
    auto three = dev<int>({0, 1, 2});
    const auto Z = nn::as_matrix(x, 2, 3);
    REQUIRE_THROWS_WITH(nn::softmax_cross_entropy_loss(thrust::device, Z, nn::as_span(negative)),
                        Contains("[0, classes)") && Contains("label -1 at row 1 with classes = 3"));
    REQUIRE_THROWS_WITH(nn::softmax_cross_entropy_loss(thrust::device, Z, nn::as_span(too_big)),
                        Contains("label 3 at row 0 with classes = 3"));
    REQUIRE_THROWS_WITH(nn::softmax_cross_entropy_gradient(thrust::device, Z, nn::as_span(too_big), nn::as_matrix(y6, 2, 3)),
                        Contains("nn::softmax_cross_entropy_gradient") && Contains("label 3 at row 0"));
    REQUIRE_THROWS_WITH(nn::softmax_cross_entropy_loss(thrust::device, Z, nn::as_span(three)),
                        Contains("one label per row") && Contains("labels.size = 3, logits.rows = 2"));
    REQUIRE_THROWS_WITH(nn::softmax_cross_entropy_loss(thrust::device, empty_batch<double>(3), std::span<const int>{}),
                        Contains("at least one row") && Contains("logits.rows = 0"));
    REQUIRE_THROWS_WITH(nn::softmax_cross_entropy_gradient(thrust::device, Z, nn::as_span(good), Y),
                        Contains("shape of the logits") && Contains("dlogits.cols = 2, logits.cols = 3"));
    REQUIRE_NOTHROW(nn::softmax_cross_entropy_gradient(thrust::device, Z, nn::as_span(good), nn::as_matrix(y6, 2, 3)));
  }
  SECTION("MSE") {
    REQUIRE_THROWS_WITH(nn::mse_loss(thrust::device, X, nn::as_matrix(y6, 3, 2)),
                        Contains("same shape") && Contains("y 2 x 3 and target 3 x 2"));
    REQUIRE_THROWS_WITH(nn::mse_loss(thrust::device, empty_batch<double>(3), empty_batch<double>(3)),
                        Contains("nn::mse_loss") && Contains("y.rows = 0"));
    REQUIRE_THROWS_WITH(nn::mse_gradient(thrust::device, X, nn::as_matrix(y6, 2, 3), Y),
                        Contains("shape of y") && Contains("dy.cols = 2, y.cols = 3"));
    REQUIRE_THROWS_WITH(nn::mse_gradient(thrust::device, empty_batch<double>(3), empty_batch<double>(3), empty_output<double>(3)),
                        Contains("nn::mse_gradient") && Contains("y.rows = 0"));
  }
}
