// Action tokens (PyTorch grammar) and placements.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/placement.hpp>

#include <string>
#include <vector>

using namespace layerpipe;
using namespace layerpipe::shorthand;

TEST_CASE("action tokens print and parse in PyTorch's grammar", "[action]") {
  REQUIRE(to_string(F(2, 0)) == "2F0");
  REQUIRE(to_string(make_action(action_kind::send_f, 1, 3)) == "1SEND_F3");
  REQUIRE(to_string(make_action(action_kind::unshard, 1)) == "1UNSHARD");
  REQUIRE(to_string(overlap(F(0, 7), B(7, 3))) == "(0F7;7B3)OVERLAP_F_B");
  for (std::string text : {"2F0", "13B128", "0I4", "3W2", "1SEND_F3", "2RECV_F3", "4SEND_B11", "3RECV_B0",
                           "1UNSHARD", "1RESHARD", "0REDUCE_GRAD", "2U", "2U5", "1OFFLOAD2", "1RELOAD2",
                           "(0F7;7B3)OVERLAP_F_B", "(3F1;3I0)OVERLAP_F_B"}) {
    CAPTURE(text);
    REQUIRE(to_string(parse_action(text)) == text);
  }
  const action a = parse_action("3SEND_F1");
  REQUIRE(a.kind == action_kind::send_f);
  REQUIRE(a.stage == 3);
  REQUIRE(a.micro_batch == 1);
  REQUIRE(parse_action("2BW5") == B(2, 5));  // older PyTorch spelling
  const action pair = parse_action("(0F7;7I3)OVERLAP_F_B");
  REQUIRE(pair.first_half() == F(0, 7));
  REQUIRE(pair.second_half() == I(7, 3));
}

TEST_CASE("malformed action tokens name the rule", "[action][error]") {
  REQUIRE_THROWS_WITH(parse_action("F0"), Catch::Contains("starts with the stage number"));
  REQUIRE_THROWS_WITH(parse_action("2X0"), Catch::Contains("unknown action type 'X'"));
  REQUIRE_THROWS_WITH(parse_action("2F"), Catch::Contains("needs a micro-batch"));
  REQUIRE_THROWS_WITH(parse_action("1UNSHARD2"), Catch::Contains("takes no micro-batch"));
  REQUIRE_THROWS_WITH(parse_action("2F0x"), Catch::Contains("nothing after it"));
  REQUIRE_THROWS_WITH(parse_action(""), Catch::Contains("starts with the stage number"));
  REQUIRE_THROWS_WITH(parse_action("(0F7;7F3)OVERLAP_F_B"), Catch::Contains("pairs a forward"));
  REQUIRE_THROWS_WITH(parse_action("(0F7)OVERLAP_F_B"), Catch::Contains("exactly two actions"));
  REQUIRE_THROWS_WITH(parse_action("99999999999F0"), Catch::Contains("out of range"));
  REQUIRE_THROWS_AS(overlap(B(0, 1), B(1, 1)), layerpipe::error);
}

TEST_CASE("loop, v and explicit placements map stages to devices and chunks", "[placement]") {
  const auto loop = placement::loop(4, 2);
  REQUIRE(loop.num_stages() == 8);
  REQUIRE(loop.device_of(5) == 1);
  REQUIRE(loop.chunk_of(5) == 1);
  REQUIRE(std::vector<int>(loop.stages_on(3).begin(), loop.stages_on(3).end()) == std::vector<int>{3, 7});

  const auto v = placement::v(4, 2);  // device d holds stages d and 2P-1-d
  REQUIRE(std::vector<int>(v.map().begin(), v.map().end()) == std::vector<int>{0, 1, 2, 3, 3, 2, 1, 0});
  REQUIRE(v.chunk_of(7) == 1);
  REQUIRE(v.same_device(3, 4));
  REQUIRE(!v.same_device(2, 3));

  const auto e = placement::from_map({0, 0, 1, 1});
  REQUIRE(e.num_devices() == 2);
  REQUIRE(e.style() == placement_style::explicit_map);
  REQUIRE(e.chunk_of(3) == 1);
  REQUIRE(e == placement::from_map({0, 0, 1, 1}, 2));
}

TEST_CASE("bad placements are rejected", "[placement][error]") {
  REQUIRE_THROWS_WITH(placement::loop(0), Catch::Contains("P >= 1") && Catch::Contains("P = 0"));
  REQUIRE_THROWS_WITH(placement::v(2, 0), Catch::Contains("V >= 1"));
  REQUIRE_THROWS_WITH(placement::from_map({0, 2}), Catch::Contains("device 1 holds no stage"));
  REQUIRE_THROWS_WITH(placement::from_map({0, -1}), Catch::Contains("device -1"));
  REQUIRE_THROWS_WITH(placement::from_map({}), Catch::Contains("at least one stage"));
  REQUIRE_THROWS_WITH(placement::loop(2).device_of(2), Catch::Contains("stage 2 out of range"));
}
