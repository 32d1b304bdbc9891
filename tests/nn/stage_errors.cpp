// A pipeline stage built on nn that receives a wrong-sized tensor: the layer's size check throws
// layerpipe::error naming both sizes, and the threads executor stops every device and hands that
// error to the caller (the "stage returning a wrong-sized tensor" case, end to end).
#include "layerpipe_test.hpp"

#include <layerpipe/exec/threads.hpp>
#include <layerpipe/nn/dense.hpp>
#include <layerpipe/nn/loss.hpp>
#include <layerpipe/nn/matrix.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>

#include <thrust/execution_policy.h>

#include <cstddef>
#include <vector>

namespace {

/// Two dense stages 4 -> 3 -> 2 over a batch of 2 rows; stage 0 can be told to emit one feature
/// too many, which stage 1's dense layer (fan-in 3) must refuse.
struct two_dense_stages {
  using tensor = std::vector<double>;
  static constexpr std::size_t batch = 2;
  bool wrong_size = false;
  std::vector<double> w0 = std::vector<double>(3 * 4, 0.1), b0 = std::vector<double>(3, 0.0);
  std::vector<double> w1 = std::vector<double>(2 * 3, 0.2), b1 = std::vector<double>(2, 0.0);

  int num_stages() const { return 2; }
  tensor input(int) const { return tensor(batch * 4, 1.0); }
  tensor forward(int stage, int, const tensor& in) const {
    namespace nn = layerpipe::nn;
    const auto& w = stage == 0 ? w0 : w1;
    const auto& b = stage == 0 ? b0 : b1;
    const std::size_t out = stage == 0 ? 3 : 2, fan_in = stage == 0 ? 4 : 3;
    tensor y(batch * out);
    nn::dense_forward(thrust::cpp::par, nn::as_matrix(w, out, fan_in), nn::as_span(b),
                      nn::as_matrix(in, batch, in.size() / batch), nn::as_matrix(y, batch, out));
    if (stage == 0 && wrong_size) y.resize(batch * (out + 1), 0.0);  // the bug under test
    return y;
  }
  tensor loss_gradient(int, const tensor& out) const { return tensor(out.size(), 1.0); }
  tensor backward_input(int stage, int, const tensor&) const {
    return tensor(batch * (stage == 0 ? 4 : 3), 0.0);
  }
  void backward_weight(int, int) const {}
  void update(int) const {}
};

}  // namespace

TEST_CASE("a stage fed a wrong-sized tensor stops the threads executor with nn's size error",
          "[exec][nn][errors]") {
  layerpipe::thread_context ctx;
  two_dense_stages good;
  REQUIRE(ctx.run(layerpipe::one_f_one_b(2, 4), good).spans.size() > 0);

  two_dense_stages bad;
  bad.wrong_size = true;
  REQUIRE_THROWS_WITH(ctx.run(layerpipe::one_f_one_b(2, 4), bad),
                      Catch::Contains("nn::dense_forward") && Catch::Contains("x.cols = 4, w.cols = 3"));
}

namespace {
/// The same stages, built for a layout in which stage s lives on device `devices[s]`.
struct placed_stages : two_dense_stages {
  std::vector<int> devices{0, 1};
  int device_of(int stage) const { return devices[static_cast<std::size_t>(stage)]; }
};
}  // namespace

TEST_CASE("stages built for another placement, or another stage count, are refused", "[exec][errors]") {
  layerpipe::thread_context ctx;
  placed_stages st;
  REQUIRE(ctx.run(layerpipe::one_f_one_b(2, 2), st).spans.size() > 0);
  st.devices = {1, 0};
  REQUIRE_THROWS_WITH(ctx.run(layerpipe::one_f_one_b(2, 2), st),
                      Catch::Contains("stage 0 was built for device 1 but schedule '1F1B' places it on device 0"));
  placed_stages two;
  REQUIRE_THROWS_WITH(ctx.run(layerpipe::one_f_one_b(3, 2), two),
                      Catch::Contains("the stages have 2 stages but schedule '1F1B' has 3"));
}
