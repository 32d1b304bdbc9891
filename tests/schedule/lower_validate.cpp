// Lowering (SEND/RECV insertion, PyTorch's _add_send_recv policy) and validation.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/generators.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

using namespace layerpipe;

namespace {

using layerpipe::test::require_error;

using lists = std::vector<std::vector<std::string>>;

schedule make(placement p, int micro_batches, const lists& tokens,
              schedule_level level = schedule_level::compute_only) {
  schedule s;
  s.name = "hand";
  s.placement = std::move(p);
  s.micro_batches = micro_batches;
  s.level = level;
  for (const auto& row : tokens) {
    s.actions.emplace_back();
    for (const auto& t : row) s.actions.back().push_back(parse_action(t));
  }
  return s;
}

lists tokens_of(const schedule& s) {
  lists out;
  for (const auto& list : s.actions) {
    out.emplace_back();
    for (const auto& a : list) out.back().push_back(to_string(a));
  }
  return out;
}

/// 1F1B by hand: warm-up min(P - d - 1, M) forwards, then (F, B) pairs, then the last B's.
schedule hand_1f1b(int devices, int micro_batches) {
  schedule s;
  s.name = "hand 1F1B";
  s.placement = placement::loop(devices);
  s.micro_batches = micro_batches;
  s.actions.resize(static_cast<std::size_t>(devices));
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    const int warmup = std::min(devices - d - 1, micro_batches);
    for (int m = 0; m < warmup; ++m) list.push_back(make_action(action_kind::forward, d, m));
    for (int i = 0; i < micro_batches - warmup; ++i) {
      list.push_back(make_action(action_kind::forward, d, warmup + i));
      list.push_back(make_action(action_kind::backward, d, i));
    }
    for (int m = micro_batches - warmup; m < micro_batches; ++m)
      list.push_back(make_action(action_kind::backward, d, m));
  }
  return s;
}

std::vector<action> compute_actions(const std::vector<action>& list) {
  std::vector<action> out;
  for (const auto& a : list)
    if (is_compute(a.kind)) out.push_back(a);
  return out;
}

/// Lowering keeps each device's compute order, puts every SEND right after its producer (or
/// after the other SEND of the same overlapped pair) and adds exactly one RECV per SEND.
void check_lowering(const schedule& s) {
  CAPTURE(s.name, s.num_devices(), s.micro_batches, s.num_stages());
  const schedule l = lower(s);
  REQUIRE(l.level == schedule_level::lowered);
  REQUIRE(l.placement == s.placement);
  REQUIRE(l.micro_batches == s.micro_batches);
  REQUIRE(l.forward_only == s.forward_only);
  REQUIRE_NOTHROW(validate(l));
  std::size_t sends = 0, recvs = 0;
  for (std::size_t d = 0; d < l.actions.size(); ++d) {
    REQUIRE(compute_actions(l.actions[d]) == s.actions[d]);
    const auto& list = l.actions[d];
    for (std::size_t i = 0; i < list.size(); ++i) {
      const action& a = list[i];
      if (a.kind == action_kind::recv_f || a.kind == action_kind::recv_b) ++recvs;
      if (a.kind != action_kind::send_f && a.kind != action_kind::send_b) continue;
      ++sends;
      REQUIRE(!l.placement.same_device(a.stage, a.kind == action_kind::send_f ? a.stage + 1 : a.stage - 1));
      std::size_t j = i - 1;  // skip the other SEND of an overlapped pair
      while (list[j].kind == action_kind::send_f || list[j].kind == action_kind::send_b) --j;
      bool produced = false;
      detail::for_each_half(list[j], [&](action_kind k, int st, int mb) {
        produced = produced || (st == a.stage && mb == a.micro_batch &&
                                (a.kind == action_kind::send_f ? k == action_kind::forward : is_input_backward(k)));
      });
      CAPTURE(d, i, a);
      REQUIRE(produced);
    }
  }
  REQUIRE(sends == recvs);
}

}  // namespace

TEST_CASE("lowering 1F1B with P = 2, M = 2, worked by hand", "[lower]") {
  // Rounds (rank 0, then rank 1): 0F0 (+SEND, RECV on 1) | 1F0; 0F1 (+SEND, RECV) | 1B0 (+SEND_B,
  // RECV_B on 0); 0B0 | 1F1; 0B1 not ready | 1B1 (+SEND_B, RECV_B); 0B1.
  const schedule s = hand_1f1b(2, 2);
  REQUIRE(tokens_of(s) == lists{{"0F0", "0F1", "0B0", "0B1"}, {"1F0", "1B0", "1F1", "1B1"}});
  const schedule l = lower(s);
  REQUIRE(tokens_of(l) == lists{{"0F0", "0SEND_F0", "0F1", "0SEND_F1", "0RECV_B0", "0B0", "0RECV_B1", "0B1"},
                                {"1RECV_F0", "1F0", "1RECV_F1", "1B0", "1SEND_B0", "1F1", "1B1", "1SEND_B1"}});
  REQUIRE(l.level == schedule_level::lowered);
  REQUIRE(l.name == s.name);
  // The generator produces the same compute lists, hence the same lowering.
  REQUIRE(tokens_of(lower(one_f_one_b(2, 2))) == tokens_of(l));
}

TEST_CASE("lowering sends nothing between stages on one device", "[lower]") {
  SECTION("two stages per device, explicit map {0, 0, 1, 1}") {
    const schedule s = make(placement::from_map({0, 0, 1, 1}), 2,
                            {{"0F0", "1F0", "0F1", "1F1", "1B0", "0B0", "1B1", "0B1"},
                             {"2F0", "3F0", "2F1", "3F1", "3B0", "2B0", "3B1", "2B1"}});
    const schedule l = lower(s);
    REQUIRE(tokens_of(l) ==
            lists{{"0F0", "1F0", "1SEND_F0", "0F1", "1F1", "1SEND_F1", "1RECV_B0", "1B0", "0B0", "1RECV_B1", "1B1", "0B1"},
                  {"2RECV_F0", "2F0", "3F0", "2RECV_F1", "2F1", "3F1", "3B0", "2B0", "2SEND_B0", "3B1", "2B1", "2SEND_B1"}});
    check_lowering(s);
  }
  SECTION("V placement: the turn between stages 1 and 2 stays on device 1") {
    const schedule s = make(placement::v(2, 2), 1, {{"0F0", "3F0", "3B0", "0B0"}, {"1F0", "2F0", "2B0", "1B0"}});
    const schedule l = lower(s);
    REQUIRE(tokens_of(l) == lists{{"0F0", "0SEND_F0", "3RECV_F0", "3F0", "3B0", "3SEND_B0", "0RECV_B0", "0B0"},
                                  {"1RECV_F0", "1F0", "2F0", "2SEND_F0", "2RECV_B0", "2B0", "1B0", "1SEND_B0"}});
    check_lowering(s);
  }
}

TEST_CASE("an overlapped F&B pair sends for both halves, forward first", "[lower]") {
  schedule s = hand_1f1b(3, 3);
  auto& middle = s.actions[1];  // 1F0 1F1 1B0 1F2 1B1 1B2
  REQUIRE(to_string(middle[3]) == "1F2");
  REQUIRE(to_string(middle[4]) == "1B1");
  middle[3] = overlap(middle[3], middle[4]);
  middle.erase(middle.begin() + 4);
  REQUIRE_NOTHROW(validate(s));
  const schedule l = lower(s);
  const auto lowered = tokens_of(l);
  const auto& d1 = lowered[1];
  auto at = std::find(d1.begin(), d1.end(), "(1F2;1B1)OVERLAP_F_B");
  REQUIRE(at != d1.end());
  REQUIRE(d1.end() - at >= 3);
  REQUIRE(at[1] == "1SEND_F2");
  REQUIRE(at[2] == "1SEND_B1");
  check_lowering(s);
}

TEST_CASE("every lowered generator schedule validates", "[lower][validate]") {
  for (int p : {1, 2, 3, 4}) {
    for (int m : {1, 2, 3, 5, 8}) {
      for (auto mode : {pass_mode::training, pass_mode::forward_only}) {
        check_lowering(hand_1f1b(p, m));
        check_lowering(one_f_one_b(p, m, mode));
        check_lowering(gpipe(p, m, mode));
        check_lowering(looped_bfs(p, m, 2, mode));
        check_lowering(interleaved_1f1b(p, m, 2, {.group_size = 0, .mode = mode}));
      }
    }
  }
  check_lowering(interleaved_1f1b(4, 8, 3));
  check_lowering(looped_bfs(3, 4, 3));
}

TEST_CASE("lowering rejects lowered and malformed schedules", "[lower][error]") {
  const schedule l = lower(hand_1f1b(2, 2));
  require_error([&] { (void)lower(l); }, {"already lowered"});
  const schedule deadlocked =
      make(placement::loop(2), 2, {{"0F0", "0B0", "0F1", "0B1"}, {"1F1", "1B1", "1F0", "1B0"}});
  require_error([&] { (void)lower(deadlocked); }, {"deadlock", "device 0", "device 1", "[0B0]"});
}

TEST_CASE("valid schedules pass at both levels", "[validate]") {
  const schedule s = hand_1f1b(4, 6);
  REQUIRE_NOTHROW(validate(s));
  REQUIRE(is_valid(s));
  REQUIRE(is_valid(lower(s)));
  schedule forward = hand_1f1b(3, 2);
  forward.forward_only = true;
  for (auto& list : forward.actions) std::erase_if(list, [](const action& a) { return a.kind != action_kind::forward; });
  REQUIRE(is_valid(forward));
  REQUIRE(is_valid(lower(forward)));
}

TEST_CASE("validation names device, step, action and rule, with the cell marked", "[validate][error]") {
  SECTION("duplicate action") {
    const schedule s = make(placement::loop(2), 2, {{"0F0", "0F1", "0B0", "0B1", "0B0"}, {"1F0", "1B0", "1F1", "1B1"}});
    require_error([&] { validate(s); },
                  {"device 0, step 4, action 0B0", "runs twice", "exactly once", "[0B0]"});
    REQUIRE(!is_valid(s));
  }
  SECTION("missing B") {
    const schedule s = make(placement::loop(2), 2, {{"0F0", "0F1", "0B0"}, {"1F0", "1B0", "1F1", "1B1"}});
    require_error([&] { validate(s); },
                  {"device 0, step 2, action 0B0", "stage 0 never runs B (or I) for micro-batch 1", "[0B0]"});
  }
  SECTION("missing F") {
    const schedule s = make(placement::loop(2), 2, {{"0F0", "0B0"}, {"1F0", "1B0"}});
    require_error([&] { validate(s); }, {"device 0, step 1", "stage 0 runs F for only 1 of its M = 2", "[0B0]"});
  }
  SECTION("B before its F on one device") {
    const schedule s = make(placement::loop(2), 2, {{"0F0", "0F1", "0B0", "0B1"}, {"1B0", "1F0", "1F1", "1B1"}});
    require_error([&] { validate(s); },
                  {"device 1, step 0, action 1B0", "needs 1F0, which device 1 runs later, at step 1",
                   "dependencies in order", "[1B0]"});
  }
  SECTION("deadlock between two devices") {
    const schedule s = make(placement::loop(2), 2, {{"0F0", "0B0", "0F1", "0B1"}, {"1F1", "1B1", "1F0", "1B0"}});
    require_error([&] { validate(s); },
                  {"deadlock", "device 0 (at 0B0) waits for 1B0 or 1I0 on device 1 step 3",
                   "device 1 (at 1F1) waits for 0F1 on device 0 step 2", "device 0, step 1, action 0B0", "[0B0]"});
  }
  SECTION("W before its I") {
    const schedule s = make(placement::loop(1), 1, {{"0F0", "0W0", "0I0"}});
    require_error([&] { validate(s); }, {"device 0, step 1, action 0W0", "needs 0B0 or 0I0", "[0W0]"});
  }
  SECTION("micro-batch out of range") {
    const schedule s = make(placement::loop(2), 2, {{"0F0", "0F2", "0B0", "0B1"}, {"1F0", "1B0", "1F1", "1B1"}});
    require_error([&] { validate(s); }, {"device 0, step 1, action 0F2", "micro-batch 2 out of range", "M = 2", "[0F2]"});
  }
  SECTION("stage on the wrong device") {
    const schedule s = make(placement::loop(2), 1, {{"0F0", "1F0", "1B0", "0B0"}, {}});
    require_error([&] { validate(s); }, {"device 0, step 1, action 1F0", "belongs to device 1", "[1F0]"});
  }
  SECTION("compute_only schedule holding a SEND") {
    const schedule s = make(placement::loop(2), 1, {{"0F0", "0SEND_F0", "0B0"}, {"1F0", "1B0"}});
    require_error([&] { validate(s); }, {"device 0, step 1, action 0SEND_F0", "compute_only", "[0SEND_F0]"});
  }
  SECTION("wrong number of action lists, M < 1") {
    schedule s = hand_1f1b(2, 2);
    s.actions.pop_back();
    require_error([&] { validate(s); }, {"1 action lists", "2 devices"});
    s = hand_1f1b(2, 2);
    s.micro_batches = 0;
    require_error([&] { validate(s); }, {"M >= 1", "M = 0"});
  }
}

TEST_CASE("validation of SEND/RECV pairing in lowered schedules", "[validate][error]") {
  const schedule good = lower(hand_1f1b(2, 2));
  // d0: 0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1
  // d1: 1RECV_F0 1F0 1RECV_F1 1B0 1SEND_B0 1F1 1B1 1SEND_B1
  auto erase = [](schedule s, std::size_t d, std::size_t i) {
    s.actions[d].erase(s.actions[d].begin() + static_cast<std::ptrdiff_t>(i));
    return s;
  };
  auto insert = [](schedule s, std::size_t d, std::size_t i, std::string_view t) {
    s.actions[d].insert(s.actions[d].begin() + static_cast<std::ptrdiff_t>(i), parse_action(t));
    return s;
  };
  SECTION("SEND without RECV") {
    const schedule s = erase(good, 1, 2);  // drop 1RECV_F1
    require_error([&] { validate(s); },
                  {"device 0, step 3, action 0SEND_F1", "has no matching 1RECV_F1 on device 1",
                   "every SEND is matched by exactly one RECV", "[0SEND_F1]"});
  }
  SECTION("RECV without SEND") {
    const schedule s = erase(good, 1, 4);  // drop 1SEND_B0
    require_error([&] { validate(s); },
                  {"device 0, step 4, action 0RECV_B0", "has no matching 1SEND_B0 on device 1", "[0RECV_B0]"});
  }
  SECTION("RECV on the wrong device") {
    const schedule s = insert(erase(good, 1, 0), 0, 2, "1RECV_F0");  // 1RECV_F0 moved to device 0
    require_error([&] { validate(s); },
                  {"device 0, step 2, action 1RECV_F0", "must run on device 1", "the receiver", "[1RECV_F0]"});
  }
  SECTION("SEND between stages on one device") {
    schedule s = make(placement::from_map({0, 0, 1, 1}), 1,
                      {{"0F0", "1F0", "1SEND_F0", "1RECV_B0", "1B0", "0B0"}, {"2RECV_F0", "2F0", "3F0", "3B0", "2B0", "2SEND_B0"}},
                      schedule_level::lowered);
    REQUIRE_NOTHROW(validate(s));
    s = insert(std::move(s), 0, 1, "0SEND_F0");
    require_error([&] { validate(s); },
                  {"device 0, step 1, action 0SEND_F0", "stages 0 and 1 both run on device 0", "local", "[0SEND_F0]"});
  }
  SECTION("SEND_B from the first stage") {
    const schedule s = insert(good, 0, 6, "0SEND_B0");
    require_error([&] { validate(s); }, {"device 0, step 6, action 0SEND_B0", "no previous stage", "[0SEND_B0]"});
  }
  SECTION("duplicate RECV") {
    const schedule s = insert(good, 1, 1, "1RECV_F0");
    require_error([&] { validate(s); }, {"device 1, step 1, action 1RECV_F0", "appears twice", "[1RECV_F0]"});
  }
  SECTION("RECV after its consumer") {
    schedule s = erase(good, 1, 0);  // 1F0 1RECV_F1 ...
    s = insert(std::move(s), 1, 1, "1RECV_F0");
    require_error([&] { validate(s); },
                  {"device 1, step 0, action 1F0", "needs 1RECV_F0, which device 1 posts later, at step 1", "[1F0]"});
  }
  SECTION("consumer without RECV") {
    schedule s = erase(erase(good, 1, 0), 0, 1);  // no 1RECV_F0 and no 0SEND_F0
    require_error([&] { validate(s); },
                  {"device 1, step 0, action 1F0", "needs 1RECV_F0 earlier on device 1", "from device 0", "[1F0]"});
  }
  SECTION("SEND before its producer") {
    schedule s = erase(good, 0, 1);  // 0SEND_F0 moved before 0F0
    s = insert(std::move(s), 0, 0, "0SEND_F0");
    require_error([&] { validate(s); }, {"device 0, step 0, action 0SEND_F0", "needs 0F0", "runs later", "[0SEND_F0]"});
  }
}
