// The host-only halves of the CUDA executor, tested with g++ (no GPU needed): the issue plan
// (one dependency-respecting order, cross-stream event waits) and the GPU mapping of cuda_options.
#include "layerpipe_test.hpp"

#include <layerpipe/exec/cuda_options.hpp>
#include <layerpipe/exec/detail/cuda_plan.hpp>
#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using layerpipe::detail::cuda_issue_plan;
using layerpipe::detail::event;

layerpipe::schedule lowered(const layerpipe::schedule& s) {
  layerpipe::schedule out = layerpipe::lower(s);
  layerpipe::validate(out);
  return out;
}

/// Empty if the plan is sound: the order lists every (device, step) once, in each device's list
/// order; every wait names an earlier-issued producer on another device; and after its waits,
/// each action's stream is covered (directly or through an earlier wait on the same device's
/// stream) for every requirement produced on another device.
std::string check_plan(const layerpipe::schedule& s, const cuda_issue_plan& plan) {
  using namespace layerpipe;
  const std::size_t devices = static_cast<std::size_t>(s.num_devices());
  std::size_t total = 0;
  for (const auto& list : s.actions) total += list.size();
  if (plan.order.size() != total) return "order has " + std::to_string(plan.order.size()) + " entries";
  std::vector<std::size_t> next(devices, 0);
  std::map<std::size_t, std::size_t> issued;  // id -> position in the order
  std::map<std::tuple<int, int, int>, std::size_t> producer;  // (event, stage, mb) -> id
  std::vector<std::vector<std::size_t>> covered(devices, std::vector<std::size_t>(devices, 0));
  for (std::size_t pos = 0; pos < plan.order.size(); ++pos) {
    const auto [d, step] = plan.order[pos];
    const std::size_t du = static_cast<std::size_t>(d);
    if (step != next[du]) return "device " + std::to_string(d) + " issued out of list order at step " + std::to_string(step);
    ++next[du];
    const std::size_t id = plan.id(d, step);
    if (plan.device_of(id) != d) return "device_of(" + std::to_string(id) + ") is wrong";
    issued[id] = pos;
    for (std::size_t p : plan.waits[id]) {
      if (!issued.count(p)) return "wait on a producer not issued yet at " + to_string(s.actions[du][step]);
      const int pd = plan.device_of(p);
      if (pd == d) return "wait on the same stream at " + to_string(s.actions[du][step]);
      auto& c = covered[du][static_cast<std::size_t>(pd)];
      c = std::max(c, p - plan.first[static_cast<std::size_t>(pd)] + 1);
    }
    const action& a = s.actions[du][step];
    std::string bad;
    detail::for_each_half(a, [&](action_kind k, int st, int mb) {
      detail::for_each_requirement(s, k, st, mb, [&](event e, int rs, int rm, const detail::transfer_edge*) {
        auto it = producer.find({static_cast<int>(e), rs, rm});
        if (it == producer.end()) {
          bad = "requirement of " + to_string(a) + " not produced before it";
          return;
        }
        const int pd = plan.device_of(it->second);
        if (pd == d) return;
        const std::size_t pstep = it->second - plan.first[static_cast<std::size_t>(pd)];
        if (covered[du][static_cast<std::size_t>(pd)] <= pstep) bad = to_string(a) + " does not wait for its producer";
      });
    });
    if (!bad.empty()) return bad;
    detail::for_each_half(a, [&](action_kind k, int st, int mb) {
      if (mb < 0) return;
      detail::for_each_product(k, st, mb, [&](event e, int ps, int pm) { producer[{static_cast<int>(e), ps, pm}] = id; });
    });
  }
  return "";
}

}  // namespace

TEST_CASE("cuda issue plan: one order, and event waits cover every cross-stream dependency", "[exec][cuda]") {
  for (int p = 1; p <= 4; ++p)
    for (int m = 1; m <= 8; ++m) {
      CAPTURE(p, m);
      for (const layerpipe::schedule& s :
           {lowered(layerpipe::gpipe(p, m)), lowered(layerpipe::one_f_one_b(p, m)),
            lowered(layerpipe::interleaved_1f1b(p, m, 2)), lowered(layerpipe::layerpipe_async(p, m))}) {
        CAPTURE(s.name);
        const cuda_issue_plan plan = layerpipe::detail::plan_cuda_issue(s);
        REQUIRE(check_plan(s, plan) == "");
        if (p == 1) {  // one device, one stream: nothing to wait for
          for (const auto& w : plan.waits) REQUIRE(w.empty());
        }
      }
    }
}

TEST_CASE("cuda issue plan: a forward on device 1 waits for device 0's SEND_F", "[exec][cuda]") {
  using namespace layerpipe;
  const schedule s = lowered(one_f_one_b(2, 2));
  const cuda_issue_plan plan = detail::plan_cuda_issue(s);
  auto find = [&](int d, action_kind k, int stage, int mb) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    for (std::size_t i = 0; i < list.size(); ++i)
      if (list[i].kind == k && list[i].stage == stage && list[i].micro_batch == mb) return plan.id(d, i);
    FAIL("action not found");
    return std::size_t{0};
  };
  const std::size_t send = find(0, action_kind::send_f, 0, 0);
  const std::size_t fwd = find(1, action_kind::forward, 1, 0);
  REQUIRE(plan.waits[fwd] == std::vector<std::size_t>{send});
  const std::size_t send_b = find(1, action_kind::send_b, 1, 1);
  const std::size_t back = find(0, action_kind::backward, 0, 1);
  REQUIRE(plan.waits[back] == std::vector<std::size_t>{send_b});
  // Device 0's own chain (F, SEND_F) needs no event: its stream is in order.
  REQUIRE(plan.waits[send].empty());
}

namespace {
/// Options built by assignment: g++ 12 warns (-Wmissing-field-initializers) about designated
/// initializers that leave a member out.
layerpipe::cuda_options per_device(std::vector<int> gpus = {}, bool capture = false) {
  layerpipe::cuda_options o;
  o.placement = layerpipe::cuda_placement::gpu_per_device;
  o.gpus = std::move(gpus);
  o.capture_graph = capture;
  return o;
}
layerpipe::cuda_options on_gpu(int gpu, bool capture = false) {
  layerpipe::cuda_options o;
  o.gpu = gpu;
  o.capture_graph = capture;
  return o;
}

}  // namespace

TEST_CASE("cuda options: mapping pipeline devices onto GPUs", "[exec][cuda]") {
  using layerpipe::cuda_options;
  using layerpipe::detail::gpus_of_devices;
  REQUIRE(gpus_of_devices(cuda_options{}, 4, 1) == std::vector<int>{0, 0, 0, 0});
  REQUIRE(gpus_of_devices(on_gpu(2), 3, 4) == std::vector<int>{2, 2, 2});
  REQUIRE(gpus_of_devices(on_gpu(0, true), 3, 1) == std::vector<int>{0, 0, 0});
  REQUIRE(gpus_of_devices(per_device(), 3, 4) == std::vector<int>{0, 1, 2});
  REQUIRE(gpus_of_devices(per_device({3, 1}), 2, 4) == std::vector<int>{3, 1});
  REQUIRE(cuda_options{} == cuda_options{});
  REQUIRE_FALSE(cuda_options{} == on_gpu(0, true));
}

TEST_CASE("cuda options: each rule names its value", "[exec][cuda]") {
  using layerpipe::cuda_options;
  using layerpipe::detail::gpus_of_devices;
  using layerpipe::test::require_error;
  require_error([] { gpus_of_devices(cuda_options{}, 2, 0); }, {"no CUDA device", "needs a GPU"});
  require_error([] { gpus_of_devices(on_gpu(1), 2, 1); }, {"cuda_options::gpu is GPU 1", "1 GPU(s)"});
  require_error([] { gpus_of_devices(on_gpu(-1), 2, 1); }, {"GPU -1", "0 <= gpu"});
  require_error([] { gpus_of_devices(per_device(), 4, 2); }, {"has 4 devices", "2 GPU(s)", "devices <= GPUs"});
  require_error([] { gpus_of_devices(per_device({0}), 2, 4); }, {"names 1 GPU(s)", "2 devices", "one GPU per pipeline device"});
  require_error([] { gpus_of_devices(per_device({1, 1}), 2, 4); }, {"GPU 1 to devices 0 and 1", "streams_on_one_gpu"});
  require_error([] { gpus_of_devices(per_device({0, 7}), 2, 4); }, {"GPU 7", "4 GPU(s)"});
  require_error([] { gpus_of_devices(per_device({0, 1}, true), 2, 4); }, {"capture_graph", "one GPU"});
}
