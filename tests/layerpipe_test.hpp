// tests/layerpipe_test.hpp — the only place tests include Catch2 from (ready for a v3 switch).
#pragma once

#include <catch2/catch.hpp>

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <cmath>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace layerpipe::test {
/// Tolerant comparison for simulated times: relative 1e-9, absolute 1e-9.
inline bool close(double a, double b) { return std::fabs(a - b) <= 1e-9 * (1.0 + std::fabs(a) + std::fabs(b)); }

/// Runs f and requires a layerpipe::error whose message holds every part.
inline void require_error(const std::function<void()>& f, std::initializer_list<std::string_view> parts) {
  try {
    f();
    FAIL("expected a layerpipe::error");
  } catch (const layerpipe::error& e) {
    const std::string message = e.what();
    INFO(message);
    for (auto part : parts) {
      CAPTURE(part);
      CHECK(message.find(part) != std::string::npos);
    }
  }
}

/// Device `device`'s list as action tokens ("0F0", "(0F7;7B3)OVERLAP_F_B", ...), for hand-checked grids.
inline std::vector<std::string> tokens(const schedule& s, int device) {
  std::vector<std::string> out;
  for (const action& a : s.actions[static_cast<std::size_t>(device)]) out.push_back(to_string(a));
  return out;
}
}  // namespace layerpipe::test
