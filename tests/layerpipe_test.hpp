// tests/layerpipe_test.hpp — the only place tests include Catch2 from (ready for a v3 switch).
#pragma once

#include <catch2/catch.hpp>

#include <cmath>

namespace layerpipe::test {
/// Tolerant comparison for simulated times: relative 1e-9, absolute 1e-9.
inline bool close(double a, double b) { return std::fabs(a - b) <= 1e-9 * (1.0 + std::fabs(a) + std::fabs(b)); }
}  // namespace layerpipe::test
