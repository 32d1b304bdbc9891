// Weight-version policies (REFERENCE §4): the exactness claims of each policy against the true
// history W(0), W(1), … kept by the test itself (never by a policy), the error analysis of §4.4
// from the c_k formula, from the policy's impulse response and by a Monte-Carlo run of the
// policies, memory per policy, the type-erased holder, names, and every error.
//
// Tolerances: "exact" means bitwise for the stash and the two-buffer snapshot; for the
// reconstructing policies it means within 8·(d + 1)²·ε_T·scale, where ε_T is the machine epsilon
// of the element type and scale = max |W| + d·max |Δ| over the run (the EMA's rounding grows
// like its window, d, and is multiplied by d once more in d·û).
#include "layerpipe_test.hpp"

#include <layerpipe/weights/any_weight_history.hpp>
#include <layerpipe/weights/ema_fixed.hpp>
#include <layerpipe/weights/ema_lag_matched.hpp>
#include <layerpipe/weights/ema_updates.hpp>
#include <layerpipe/weights/error_analysis.hpp>
#include <layerpipe/weights/exact_stash.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/stale.hpp>
#include <layerpipe/weights/two_buffer.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

using namespace layerpipe;

namespace {

// ---------------------------------------------------------------------------------------------
// The true history, kept by the test: W(0), W(1), …, W(n), with W(j+1) = W(j) − Δ(j) computed
// element by element in T, as any caller would.
template <class T>
struct trajectory {
  std::vector<std::vector<T>> versions;
  T scale = 0;  // max |W| + d·max |Δ| seen, for tolerances

  explicit trajectory(std::vector<T> w0) : versions{std::move(w0)} { note(versions.back(), 1); }

  std::int64_t n() const { return static_cast<std::int64_t>(versions.size()) - 1; }
  const std::vector<T>& current() const { return versions.back(); }
  /// W(max(j, 0)): the version a layer wants during warm-up is the initial one.
  const std::vector<T>& at(std::int64_t j) const { return versions[static_cast<std::size_t>(std::max<std::int64_t>(j, 0))]; }

  /// Every policy records W(n) and Δ(n); then the test applies the update.
  template <class... P>
  void step(const std::vector<T>& delta, std::int64_t d, P&... policies) {
    const std::vector<T>& w = versions.back();
    (policies.record(std::span<const T>(w), std::span<const T>(delta)), ...);
    std::vector<T> next = w;
    for (std::size_t i = 0; i < next.size(); ++i) next[i] -= delta[i];
    note(delta, static_cast<T>(d));
    versions.push_back(std::move(next));
    note(versions.back(), 1);
  }

  void note(const std::vector<T>& v, T factor) {
    for (T x : v) scale = std::max(scale, factor * std::fabs(x));
  }
};

template <class T, class P>
std::vector<T> rebuild(const P& policy, const std::vector<T>& current) {
  std::vector<T> out(current.size(), T(-12345));
  policy.reconstruct(std::span<const T>(current), std::span<T>(out));
  return out;
}

template <class T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
T max_abs_diff(const std::vector<T>& a, const std::vector<T>& b) {
  T m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

template <class T>
T exact_tolerance(std::int64_t d, T scale) {
  const auto w = static_cast<T>(d + 1);
  return 8 * w * w * std::numeric_limits<T>::epsilon() * scale;
}

template <class T>
std::vector<T> uniform(std::mt19937_64& rng, std::size_t size, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(size);
  for (T& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// Random updates of mixed signs and magnitudes over four decades.
template <class T>
std::vector<T> wild(std::mt19937_64& rng, std::size_t size) {
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> decade(-4, 0);
  std::vector<T> v(size);
  for (T& x : v) x = static_cast<T>(mantissa(rng) * std::pow(10.0, decade(rng)));
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("weight policy names round-trip, aliases and case are accepted", "[weights]") {
  for (weight_policy p : all_weight_policies) REQUIRE(parse_weight_policy(to_string(p)) == p);
  REQUIRE(to_string(weight_policy::exact_stash) == "exact-stash");
  REQUIRE(to_string(weight_policy::ema_lag_matched) == "ema-lag-matched");
  REQUIRE(parse_weight_policy("stash") == weight_policy::exact_stash);
  REQUIRE(parse_weight_policy("PipeDream") == weight_policy::exact_stash);
  REQUIRE(parse_weight_policy("current") == weight_policy::stale);
  REQUIRE(parse_weight_policy("2BW") == weight_policy::two_buffer);
  REQUIRE(parse_weight_policy("pipedream_2bw") == weight_policy::two_buffer);
  REQUIRE(parse_weight_policy("EMA") == weight_policy::ema_updates);
  REQUIRE(parse_weight_policy("variant a") == weight_policy::ema_updates);
  REQUIRE(parse_weight_policy("ema_updates") == weight_policy::ema_updates);
  REQUIRE(parse_weight_policy("Variant-B") == weight_policy::ema_lag_matched);
  REQUIRE(parse_weight_policy("plain-ema") == weight_policy::ema_fixed);
  REQUIRE(to_string(static_cast<weight_policy>(42)) == "?");
}

TEST_CASE("every policy and the holder satisfy weight_history", "[weights]") {
  STATIC_REQUIRE(weight_history<exact_stash<double>, double>);
  STATIC_REQUIRE(weight_history<stale_weights<float>, float>);
  STATIC_REQUIRE(weight_history<two_buffer<double>, double>);
  STATIC_REQUIRE(weight_history<ema_updates<float>, float>);
  STATIC_REQUIRE(weight_history<ema_lag_matched<double>, double>);
  STATIC_REQUIRE(weight_history<ema_fixed<float>, float>);
  STATIC_REQUIRE(weight_history<any_weight_history<float>, float>);
  STATIC_REQUIRE(weight_history<any_weight_history<double>, double>);
  STATIC_REQUIRE_FALSE(weight_history<ema_updates<float>, double>);  // element types must agree
  STATIC_REQUIRE(ema_updates_beta(6) == 5.0 / 7.0);
  STATIC_REQUIRE(ema_lag_matched_beta(6) == 6.0 / 7.0);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("exact stash reproduces W(n - d) bitwise for random updates", "[weights][exact]") {
  std::mt19937_64 rng(11);
  for (std::int64_t d : {0, 1, 2, 5}) {
    CAPTURE(d);
    exact_stash<double> stash(7, d);
    REQUIRE(stash.memory_bytes() == static_cast<std::size_t>(d) * 7 * sizeof(double));
    trajectory<double> w(uniform<double>(rng, 7, -1, 1));
    REQUIRE(bitwise_equal(rebuild(stash, w.current()), w.current()));  // n = 0
    for (int step = 0; step < 30; ++step) {
      w.step(wild<double>(rng, 7), d, stash);
      CAPTURE(w.n());
      REQUIRE(stash.updates() == w.n());
      REQUIRE(bitwise_equal(rebuild(stash, w.current()), w.at(w.n() - d)));
    }
    std::vector<double> in_place = w.current();  // out may be the current weights themselves
    stash.reconstruct(in_place, in_place);
    REQUIRE(bitwise_equal(in_place, w.at(w.n() - d)));
  }
  // float, through apply_update on the caller's own buffer
  exact_stash<float> stash(5, 3);
  std::vector<float> buffer = uniform<float>(rng, 5, -1, 1);
  std::vector<std::vector<float>> seen{buffer};
  for (int step = 0; step < 12; ++step) {
    apply_update(stash, std::span<float>(buffer), std::span<const float>(wild<float>(rng, 5)));
    seen.push_back(buffer);
    REQUIRE(bitwise_equal(rebuild(stash, buffer), seen[static_cast<std::size_t>(std::max(step + 1 - 3, 0))]));
  }
}

TEST_CASE("stale weights: the error is the sum of the last min(n, d) updates", "[weights][stale]") {
  std::mt19937_64 rng(12);
  for (std::int64_t d : {1, 3, 8}) {
    CAPTURE(d);
    stale_weights<double> stale(6, d);
    REQUIRE(stale.memory_bytes() == 0);
    trajectory<double> w(uniform<double>(rng, 6, -1, 1));
    std::vector<std::vector<double>> deltas;
    for (int step = 0; step < 20; ++step) {
      deltas.push_back(wild<double>(rng, 6));
      w.step(deltas.back(), d, stale);
      const std::vector<double> hat = rebuild(stale, w.current());
      REQUIRE(bitwise_equal(hat, w.current()));
      const std::int64_t n = w.n();
      for (std::size_t i = 0; i < 6; ++i) {
        double sum = 0;
        for (std::int64_t j = std::max<std::int64_t>(n - d, 0); j < n; ++j) sum += deltas[static_cast<std::size_t>(j)][i];
        const double error = w.at(n - d)[i] - hat[i];
        REQUIRE(std::fabs(error - sum) <= exact_tolerance<double>(d, w.scale));
      }
    }
  }
}

TEST_CASE("two-buffer returns the snapshot W(m*floor((n-1)/m)), of age 1..m", "[weights][two-buffer]") {
  std::mt19937_64 rng(13);
  for (std::int64_t m : {1, 3}) {
    for (std::int64_t d : {1, 4}) {
      CAPTURE(m, d);
      two_buffer<double> h(5, d, m);
      REQUIRE(h.period() == m);
      REQUIRE(h.memory_bytes() == 5 * sizeof(double));  // one buffer whatever d and m are
      trajectory<double> w(uniform<double>(rng, 5, -1, 1));
      REQUIRE(bitwise_equal(rebuild(h, w.current()), w.current()));
      for (int step = 0; step < 13; ++step) {
        w.step(wild<double>(rng, 5), d, h);
        const std::int64_t n = w.n();
        const std::int64_t age = n - m * ((n - 1) / m);
        CAPTURE(n);
        REQUIRE(h.age() == age);
        REQUIRE(age >= 1);
        REQUIRE(age <= m);
        REQUIRE(bitwise_equal(rebuild(h, w.current()), w.at(n - age)));
        if (m == 1 && d == 1) REQUIRE(bitwise_equal(rebuild(h, w.current()), w.at(n - d)));  // 2BW: exact
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
TEMPLATE_TEST_CASE("Variant A is exact for constant updates at every n, for any beta", "[weights][ema]", float, double) {
  using T = TestType;
  std::mt19937_64 rng(14);
  for (std::int64_t d : {1, 2, 6, 14}) {
    for (std::optional<double> beta : {std::optional<double>{}, std::optional<double>{1.0 - 1.0 / static_cast<double>(d)},
                                       std::optional<double>{0.5}}) {
      CAPTURE(d, beta.value_or(-1));
      ema_updates<T> h(9, d, beta);
      REQUIRE(h.beta() == beta.value_or(ema_updates_beta(d)));
      trajectory<T> w(uniform<T>(rng, 9, -1, 1));
      const std::vector<T> delta = uniform<T>(rng, 9, -0.01, 0.01);
      for (int step = 0; step < 4 * static_cast<int>(d) + 10; ++step) {
        w.step(delta, d, h);
        CAPTURE(w.n());
        REQUIRE(max_abs_diff(rebuild(h, w.current()), w.at(w.n() - d)) <= exact_tolerance<T>(d, w.scale));
      }
    }
  }
}

TEST_CASE("Variant A with beta = (d-1)/(d+1) is exact for linear updates once past the bias-correction "
          "transient; beta = 1 - 1/d drifts by b*d(d-1)/2",
          "[weights][ema]") {
  std::mt19937_64 rng(15);
  const std::size_t size = 8;
  for (std::int64_t d : {2, 6, 14}) {
    CAPTURE(d);
    const double slow = 1.0 - 1.0 / static_cast<double>(d);
    ema_updates<double> matched(size, d), naive(size, d, slow);
    const std::vector<double> a = uniform<double>(rng, size, -0.01, 0.01), b = uniform<double>(rng, size, -1e-3, 1e-3);
    trajectory<double> w(uniform<double>(rng, size, -1, 1));
    double transient_error = 0;
    for (int step = 0; step < 500; ++step) {  // Δ(j) = a + b·j
      std::vector<double> delta(size);
      for (std::size_t i = 0; i < size; ++i) delta[i] = a[i] + b[i] * step;
      w.step(delta, d, matched, naive);
      const std::int64_t n = w.n();
      if (n == d + 1) transient_error = max_abs_diff(rebuild(matched, w.current()), w.at(n - d));
      if (n == 400 || n == 500) {  // n·β^n < 1e-20 for every d here: the transient is gone
        CAPTURE(n);
        REQUIRE(max_abs_diff(rebuild(matched, w.current()), w.at(n - d)) <= exact_tolerance<double>(d, w.scale));
        // The slow decay lags: ε = W(n − d) − Ŵ = b·D with D = d(d − 1)/2, the same at every n.
        const double drift = ema_linear_drift(d, slow);
        REQUIRE(drift == Approx(static_cast<double>(d * (d - 1)) / 2.0).epsilon(1e-12));
        const std::vector<double> hat = rebuild(naive, w.current());
        for (std::size_t i = 0; i < size; ++i) {
          REQUIRE(w.at(n - d)[i] - hat[i] == Approx(b[i] * drift).epsilon(1e-6));
          REQUIRE(std::fabs(w.at(n - d)[i] - hat[i]) > 1000 * exact_tolerance<double>(d, w.scale));
        }
      }
    }
    // Right after warm-up the bias-corrected average is not yet the mean of the last d updates.
    REQUIRE(transient_error > 1000 * exact_tolerance<double>(d, w.scale));
  }
}

TEST_CASE("Variant A with d = 1 has beta = 0 and is exact for any sequence", "[weights][ema]") {
  std::mt19937_64 rng(16);
  ema_updates<double> h(6, 1);
  REQUIRE(h.beta() == 0.0);
  trajectory<double> w(uniform<double>(rng, 6, -1, 1));
  for (int step = 0; step < 40; ++step) {
    const std::vector<double> delta = wild<double>(rng, 6);
    w.step(delta, 1, h);
    const std::vector<double> hat = rebuild(h, w.current());
    for (std::size_t i = 0; i < 6; ++i)  // W(n) + Δ(n − 1): one rounding of each operation
      REQUIRE(std::fabs(hat[i] - w.at(w.n() - 1)[i]) <=
              4 * std::numeric_limits<double>::epsilon() * (std::fabs(w.current()[i]) + std::fabs(delta[i])));
  }
}

TEST_CASE("d = 0: every policy returns W(n) and holds no memory", "[weights]") {
  std::mt19937_64 rng(17);
  for (weight_policy p : all_weight_policies) {
    CAPTURE(to_string(p));
    any_weight_history<double> h = make_weight_history<double>(p, 10, 0);
    REQUIRE(h.policy() == p);
    REQUIRE(h.memory_bytes() == 0);
    REQUIRE(weight_history_bytes(p, 10, 0, sizeof(double)) == 0);
    trajectory<double> w(uniform<double>(rng, 10, -1, 1));
    for (int step = 0; step < 5; ++step) {
      w.step(wild<double>(rng, 10), 0, h);
      REQUIRE(bitwise_equal(rebuild(h, w.current()), w.current()));
    }
  }
  any_weight_history<float> fixed = make_weight_history<float>(weight_policy::ema_fixed, 4, 0, {.beta = 0.5});
  REQUIRE(fixed.memory_bytes() == 0);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("Variant B is exact for constant updates in steady state only", "[weights][ema-b]") {
  std::mt19937_64 rng(18);
  const std::size_t size = 5;
  for (std::int64_t d : {2, 6, 14}) {
    CAPTURE(d);
    const double beta = static_cast<double>(d) / static_cast<double>(d + 1);
    ema_lag_matched<double> h(size, d);
    REQUIRE(h.beta() == beta);
    REQUIRE(h.memory_bytes() == size * sizeof(double));
    trajectory<double> w(uniform<double>(rng, size, -1, 1));
    const std::vector<double> delta = uniform<double>(rng, size, 0.001, 0.01);
    const std::int64_t steady = 40 * (d + 1);  // β^n < 1e-15
    for (std::int64_t step = 0; step < steady; ++step) {
      w.step(delta, d, h);
      const std::int64_t n = w.n();
      if (n < d) continue;
      // From n = d on: ε = W(n − d) − W̄(n) = d·Δ·β^n (a weight EMA started at W(0) trails by d(1 − β^n)).
      const std::vector<double> hat = rebuild(h, w.current());
      for (std::size_t i = 0; i < size; ++i) {
        const double predicted = static_cast<double>(d) * delta[i] * std::pow(beta, static_cast<double>(n));
        REQUIRE(std::fabs(w.at(n - d)[i] - hat[i] - predicted) <= exact_tolerance<double>(d, w.scale));
        if (n == d) REQUIRE(std::fabs(predicted) > 1000 * exact_tolerance<double>(d, w.scale));  // not exact yet
      }
    }
    REQUIRE(max_abs_diff(rebuild(h, w.current()), w.at(w.n() - d)) <= exact_tolerance<double>(d, w.scale));
  }
}

TEST_CASE("Variant B is not exact for linear updates: it keeps an error b*d(d+1)/2", "[weights][ema-b]") {
  std::mt19937_64 rng(19);
  const std::size_t size = 4;
  for (std::int64_t d : {2, 6}) {
    CAPTURE(d);
    ema_lag_matched<double> h(size, d);
    const std::vector<double> a = uniform<double>(rng, size, -0.01, 0.01), b = uniform<double>(rng, size, 1e-4, 1e-3);
    trajectory<double> w(uniform<double>(rng, size, -1, 1));
    for (int step = 0; step < 300; ++step) {
      std::vector<double> delta(size);
      for (std::size_t i = 0; i < size; ++i) delta[i] = a[i] + b[i] * step;
      w.step(delta, d, h);
    }
    // ε = Σ_{i>=1} Δ(n − i)·(1[i <= d] − β^i); with Δ linear and β = d/(d+1) that is b·d(d+1)/2.
    const std::vector<double> hat = rebuild(h, w.current());
    for (std::size_t i = 0; i < size; ++i)
      REQUIRE(w.at(w.n() - d)[i] - hat[i] == Approx(b[i] * static_cast<double>(d * (d + 1)) / 2.0).epsilon(1e-6));
  }
}

TEST_CASE("fixed-beta weight EMA lags beta/(1-beta) updates, matching one delay only", "[weights][ema-fixed]") {
  std::mt19937_64 rng(20);
  const std::vector<double> delta = uniform<double>(rng, 3, 0.001, 0.01);
  for (std::int64_t d : {3, 9, 12}) {
    CAPTURE(d);
    ema_fixed<double> h(3, d);  // β = 0.9: lag 9 updates
    REQUIRE(h.beta() == 0.9);
    trajectory<double> w(uniform<double>(rng, 3, -1, 1));
    for (int step = 0; step < 400; ++step) w.step(delta, d, h);  // 0.9^400 < 1e-18
    // Steady state: W̄ = W(n − 9) = W(n) + 9·Δ, the target W(n − d) = W(n) + d·Δ: ε = (d − 9)·Δ,
    // zero only for d = 9.
    const std::vector<double> hat = rebuild(h, w.current());
    for (std::size_t i = 0; i < 3; ++i)
      REQUIRE(std::fabs(w.at(w.n() - d)[i] - hat[i] - static_cast<double>(d - 9) * delta[i]) <=
              exact_tolerance<double>(9, w.scale));
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("noise gain: the table of REFERENCE 4.4 from the c_k formula", "[weights][analysis]") {
  struct row {
    std::int64_t d;
    double matched, slow;
  };
  for (const row& r : {row{2, 0.44, 0.33}, row{6, 1.59, 1.29}, row{14, 3.78, 3.18}}) {
    CAPTURE(r.d);
    const double matched_beta = ema_updates_beta(r.d), slow_beta = 1.0 - 1.0 / static_cast<double>(r.d);
    double matched = 0, slow = 0, stale = 0, sum = 0, moment = 0;
    for (std::int64_t k = 0; k < 4000; ++k) {  // β^4000 < 1e-120: the tail is nothing
      const double c = ema_error_coefficient(r.d, matched_beta, k);
      matched += c * c;
      sum += c;
      moment += static_cast<double>(k) * c;
      const double s = ema_error_coefficient(r.d, slow_beta, k);
      slow += s * s;
      const double st = k < r.d ? 1.0 : 0.0;  // stale: û = 0, c_k = 1[k < d]
      stale += st * st;
    }
    REQUIRE(matched == Approx(r.matched).margin(0.005));
    REQUIRE(slow == Approx(r.slow).margin(0.005));
    REQUIRE(stale == static_cast<double>(r.d));
    REQUIRE(ema_noise_gain(r.d, matched_beta) == Approx(matched).epsilon(1e-12));
    REQUIRE(ema_noise_gain(r.d, slow_beta) == Approx(slow).epsilon(1e-12));
    REQUIRE(std::fabs(sum) < 1e-12);     // constant updates: no error, whatever β
    REQUIRE(std::fabs(moment) < 1e-9);   // linear updates: no drift with the matched β
    REQUIRE(ema_linear_drift(r.d, matched_beta) == Approx(0.0).margin(1e-12));
    // The matched EMA keeps 70–80 % less noise than the stale weights (REFERENCE 4.4).
    REQUIRE(matched / stale < 0.3);
  }
}

TEST_CASE("noise gain: the policy's impulse response is c_k", "[weights][analysis]") {
  // Element k receives one unit update k + 1 steps before the end, nothing else: its error is
  // 1[k < d] − d·(1 − β)·β^k/(1 − β^n), which is c_k once β^n has vanished.
  const std::int64_t n = 600;
  for (std::int64_t d : {2, 6, 14}) {
    for (double beta : {ema_updates_beta(d), 1.0 - 1.0 / static_cast<double>(d)}) {
      CAPTURE(d, beta);
      const auto lags = static_cast<std::size_t>(3 * d + 3);
      ema_updates<double> h(lags, d, beta);
      trajectory<double> w(std::vector<double>(lags, 0.0));
      for (std::int64_t step = 0; step < n; ++step) {
        std::vector<double> delta(lags, 0.0);
        const std::int64_t k = n - 1 - step;
        if (k < static_cast<std::int64_t>(lags)) delta[static_cast<std::size_t>(k)] = 1.0;
        w.step(delta, d, h);
      }
      const std::vector<double> hat = rebuild(h, w.current());
      for (std::size_t k = 0; k < lags; ++k)
        REQUIRE(w.at(n - d)[k] - hat[k] ==
                Approx(ema_error_coefficient(d, beta, static_cast<std::int64_t>(k))).margin(1e-12));
    }
  }
}

TEST_CASE("noise gain: a Monte-Carlo run of the policies reproduces the table", "[weights][analysis]") {
  // N independent elements, each fed its own i.i.d. N(0, 1) updates: at the end the spread of
  // ε = W(n − d) − Ŵ across elements estimates Var(ε)/σ². Relative standard error of a sample
  // variance: sqrt(2/N) = 1.6 % for N = 8000; the tolerance, 7 %, is over 4 standard errors.
  const std::size_t N = 8000;
  std::mt19937_64 rng(21);
  std::normal_distribution<double> noise(0.0, 1.0);
  for (std::int64_t d : {2, 6, 14}) {
    CAPTURE(d);
    const double slow_beta = 1.0 - 1.0 / static_cast<double>(d);
    ema_updates<double> matched(N, d), slow(N, d, slow_beta);
    stale_weights<double> stale(N, d);
    std::vector<double> w(N, 0.0), delta(N);
    std::deque<std::vector<double>> recent{w};  // W(n − d), …, W(n), kept by the test
    const std::int64_t n = 12 * (d + 1) + 20;   // β^n < 1e-6 for both decays: steady state
    for (std::int64_t step = 0; step < n; ++step) {
      for (double& x : delta) x = noise(rng);
      matched.record(w, delta);
      slow.record(w, delta);
      stale.record(w, delta);
      for (std::size_t i = 0; i < N; ++i) w[i] -= delta[i];
      recent.push_back(w);
      if (static_cast<std::int64_t>(recent.size()) > d + 1) recent.pop_front();
    }
    const auto variance = [&](const auto& policy) {
      std::vector<double> hat(N);
      policy.reconstruct(w, hat);
      double mean = 0, square = 0;
      for (std::size_t i = 0; i < N; ++i) mean += recent.front()[i] - hat[i];
      mean /= static_cast<double>(N);
      for (std::size_t i = 0; i < N; ++i) square += (recent.front()[i] - hat[i] - mean) * (recent.front()[i] - hat[i] - mean);
      return square / static_cast<double>(N - 1);
    };
    REQUIRE(variance(matched) == Approx(ema_noise_gain(d, ema_updates_beta(d))).epsilon(0.07));
    REQUIRE(variance(slow) == Approx(ema_noise_gain(d, slow_beta)).epsilon(0.07));
    REQUIRE(variance(stale) == Approx(static_cast<double>(d)).epsilon(0.07));
  }
}

// ---------------------------------------------------------------------------------------------
TEMPLATE_TEST_CASE("memory per policy: buffers x size x sizeof(T)", "[weights][memory]", float, double) {
  using T = TestType;
  const std::size_t size = 1000;
  for (std::int64_t d : {0, 1, 3, 7}) {
    CAPTURE(d);
    const auto one = static_cast<std::size_t>(d > 0 ? 1 : 0);
    const struct {
      weight_policy policy;
      std::size_t buffers;
    } expected[] = {{weight_policy::exact_stash, static_cast<std::size_t>(d)},
                    {weight_policy::stale, 0},
                    {weight_policy::two_buffer, one},
                    {weight_policy::ema_updates, one},
                    {weight_policy::ema_lag_matched, one},
                    {weight_policy::ema_fixed, one}};
    for (const auto& e : expected) {
      CAPTURE(to_string(e.policy));
      const std::size_t bytes = e.buffers * size * sizeof(T);
      REQUIRE(make_weight_history<T>(e.policy, size, d).memory_bytes() == bytes);
      REQUIRE(weight_history_bytes(e.policy, size, d, sizeof(T)) == bytes);
    }
    REQUIRE(exact_stash<T>(size, d).memory_bytes() == static_cast<std::size_t>(d) * size * sizeof(T));
    REQUIRE(stale_weights<T>(size, d).memory_bytes() == 0);
    REQUIRE(two_buffer<T>(size, d, 5).memory_bytes() == one * size * sizeof(T));
    REQUIRE(ema_updates<T>(size, d).memory_bytes() == one * size * sizeof(T));
    REQUIRE(ema_lag_matched<T>(size, d).memory_bytes() == one * size * sizeof(T));
    REQUIRE(ema_fixed<T>(size, d).memory_bytes() == one * size * sizeof(T));
  }
  REQUIRE(weight_history_bytes(weight_policy::exact_stash, 1 << 20, 6, 2) == 6u * (1u << 20) * 2u);  // fp16, no object
}

TEST_CASE("any_weight_history: options, value semantics, same numbers as the policy inside", "[weights][holder]") {
  std::mt19937_64 rng(22);
  REQUIRE(make_weight_history<double>(weight_policy::ema_updates, 3, 6).get_if<ema_updates<double>>()->beta() == 5.0 / 7.0);
  REQUIRE(make_weight_history<double>(weight_policy::ema_updates, 3, 6, {.beta = 0.25}).get_if<ema_updates<double>>()->beta() ==
          0.25);
  REQUIRE(make_weight_history<double>(weight_policy::ema_lag_matched, 3, 6).get_if<ema_lag_matched<double>>()->beta() ==
          6.0 / 7.0);
  REQUIRE(make_weight_history<double>(weight_policy::ema_fixed, 3, 6).get_if<ema_fixed<double>>()->beta() == 0.9);
  REQUIRE(make_weight_history<double>(weight_policy::ema_fixed, 3, 6, {.beta = 0.5}).get_if<ema_fixed<double>>()->beta() == 0.5);
  REQUIRE(make_weight_history<double>(weight_policy::two_buffer, 3, 6, {.period = 4}).get_if<two_buffer<double>>()->period() == 4);
  REQUIRE(make_weight_history<double>(weight_policy::stale, 3, 6).get_if<ema_fixed<double>>() == nullptr);

  for (weight_policy p : all_weight_policies) {
    CAPTURE(to_string(p));
    const weight_history_options options =
        p == weight_policy::two_buffer ? weight_history_options{.period = 2} : weight_history_options{};
    any_weight_history<double> h = make_weight_history<double>(p, 4, 3, options);
    REQUIRE(h.policy() == p);
    REQUIRE(h.delay() == 3);
    REQUIRE(h.size() == 4);
    // The same policy built directly gives bitwise the same reconstructions.
    any_weight_history<double> direct;
    switch (p) {
      case weight_policy::exact_stash: direct = exact_stash<double>(4, 3); break;
      case weight_policy::stale: direct = stale_weights<double>(4, 3); break;
      case weight_policy::two_buffer: direct = two_buffer<double>(4, 3, 2); break;
      case weight_policy::ema_updates: direct = ema_updates<double>(4, 3); break;
      case weight_policy::ema_lag_matched: direct = ema_lag_matched<double>(4, 3); break;
      case weight_policy::ema_fixed: direct = ema_fixed<double>(4, 3); break;
    }
    REQUIRE(direct == h);
    trajectory<double> w(uniform<double>(rng, 4, -1, 1));
    for (int step = 0; step < 6; ++step) w.step(wild<double>(rng, 4), 3, h, direct);
    REQUIRE(h.updates() == 6);
    REQUIRE(bitwise_equal(rebuild(h, w.current()), rebuild(direct, w.current())));
    // A copy is independent: updating it leaves the original as it was.
    const any_weight_history<double> before = h;
    any_weight_history<double> copy = h;
    REQUIRE(copy == h);
    copy.record(w.current(), wild<double>(rng, 4));
    REQUIRE(copy.updates() == 7);
    REQUIRE(h == before);
    // reset forgets every update: W(n) again, then the same answers as a fresh policy.
    h.reset();
    REQUIRE(h.updates() == 0);
    REQUIRE(bitwise_equal(rebuild(h, w.current()), w.current()));
    any_weight_history<double> fresh = make_weight_history<double>(p, 4, 3, options);
    trajectory<double> v(uniform<double>(rng, 4, -1, 1));
    for (int step = 0; step < 5; ++step) v.step(wild<double>(rng, 4), 3, h, fresh);
    REQUIRE(bitwise_equal(rebuild(h, v.current()), rebuild(fresh, v.current())));
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("bad input throws layerpipe::error naming the rule and the value", "[weights][errors]") {
  using Catch::Contains;
  // d < 0, for every policy, the factory and the byte count
  REQUIRE_THROWS_WITH(exact_stash<double>(4, -1), Contains("delay must be >= 0") && Contains("d = -1"));
  REQUIRE_THROWS_WITH(stale_weights<double>(4, -2), Contains("'stale'") && Contains("d = -2"));
  REQUIRE_THROWS_WITH(two_buffer<double>(4, -1), Contains("'two-buffer'") && Contains("d = -1"));
  REQUIRE_THROWS_WITH(ema_updates<double>(4, -3), Contains("'ema-updates'") && Contains("d = -3"));
  REQUIRE_THROWS_WITH(ema_lag_matched<float>(4, -1), Contains("'ema-lag-matched'") && Contains("d = -1"));
  REQUIRE_THROWS_WITH(ema_fixed<float>(4, -1), Contains("'ema-fixed'") && Contains("d = -1"));
  for (weight_policy p : all_weight_policies) {
    REQUIRE_THROWS_WITH(make_weight_history<float>(p, 4, -5), Contains("delay must be >= 0") && Contains("d = -5"));
    REQUIRE_THROWS_WITH(weight_history_bytes(p, 4, -5, 4), Contains("delay must be >= 0") && Contains("d = -5"));
  }
  // β outside [0, 1)
  REQUIRE_THROWS_WITH(ema_updates<double>(4, 3, 1.0), Contains("must lie in [0, 1)") && Contains("beta = 1"));
  REQUIRE_THROWS_WITH(ema_updates<double>(4, 3, -0.1), Contains("beta = -0.1"));
  REQUIRE_THROWS_WITH(ema_updates<double>(4, 3, std::nan("")), Contains("must lie in [0, 1)") && Contains("nan"));
  REQUIRE_THROWS_WITH(ema_lag_matched<double>(4, 3, 1.5), Contains("'ema-lag-matched'") && Contains("beta = 1.5"));
  REQUIRE_THROWS_WITH(ema_fixed<double>(4, 3, 1.0), Contains("'ema-fixed'") && Contains("beta = 1"));
  REQUIRE_THROWS_WITH(make_weight_history<float>(weight_policy::ema_fixed, 4, 3, {.beta = -1.0}), Contains("beta = -1"));
  // m < 1
  REQUIRE_THROWS_WITH(two_buffer<double>(4, 3, 0), Contains("period must be m >= 1") && Contains("m = 0"));
  REQUIRE_THROWS_WITH(make_weight_history<double>(weight_policy::two_buffer, 4, 3, {.period = -2}), Contains("m = -2"));
  // options a policy does not use
  REQUIRE_THROWS_WITH(make_weight_history<double>(weight_policy::exact_stash, 4, 3, {.beta = 0.5}),
                      Contains("'exact-stash' has no EMA decay") && Contains("beta = 0.5"));
  REQUIRE_THROWS_WITH(make_weight_history<double>(weight_policy::stale, 4, 3, {.beta = 0.5}), Contains("no EMA decay"));
  REQUIRE_THROWS_WITH(make_weight_history<double>(weight_policy::two_buffer, 4, 3, {.beta = 0.5}), Contains("no EMA decay"));
  for (weight_policy p : {weight_policy::exact_stash, weight_policy::stale, weight_policy::ema_updates,
                          weight_policy::ema_lag_matched, weight_policy::ema_fixed})
    REQUIRE_THROWS_WITH(make_weight_history<double>(p, 4, 3, {.period = 3}),
                        Contains("has no version period") && Contains("got 3"));
  // size mismatch between the spans and the policy, for every policy
  for (weight_policy p : all_weight_policies) {
    CAPTURE(to_string(p));
    any_weight_history<double> h = make_weight_history<double>(p, 4, 2);
    std::vector<double> four(4, 1.0), three(3, 1.0), out(4);
    REQUIRE_THROWS_WITH(h.record(three, four), Contains("weights span must have the policy's size 4") && Contains("got 3"));
    REQUIRE_THROWS_WITH(h.record(four, three), Contains("delta span") && Contains("got 3"));
    REQUIRE_THROWS_WITH(h.reconstruct(three, out), Contains("current weights span") && Contains("got 3"));
    REQUIRE_THROWS_WITH(h.reconstruct(four, std::span<double>(three)), Contains("output span") && Contains("got 3"));
    REQUIRE_THROWS_WITH(apply_update(h, std::span<double>(four), std::span<const double>(three)), Contains("got 3"));
    REQUIRE(four == std::vector<double>(4, 1.0));  // nothing applied
    REQUIRE(h.updates() == 0);
    // an output that partly overlaps the current weights
    std::vector<double> buffer(6, 1.0);
    REQUIRE_THROWS_WITH(h.reconstruct(std::span<const double>(buffer).first(4), std::span<double>(buffer).subspan(2, 4)),
                        Contains("partial overlap at offset 2"));
  }
  // names and enum values
  REQUIRE_THROWS_WITH(parse_weight_policy("momentum"),
                      Contains("unknown weight policy 'momentum'") && Contains("exact-stash") && Contains("2bw"));
  REQUIRE_THROWS_WITH(parse_weight_policy(""), Contains("unknown weight policy ''"));
  REQUIRE_THROWS_WITH(make_weight_history<double>(static_cast<weight_policy>(42), 4, 1),
                      Contains("unknown weight_policy value 42"));
  REQUIRE_THROWS_WITH(weight_history_bytes(static_cast<weight_policy>(42), 4, 1, 4), Contains("unknown weight_policy value 42"));
  // byte counts
  REQUIRE_THROWS_WITH(weight_history_bytes(weight_policy::ema_updates, 4, 1, 0), Contains("element size must be >= 1 byte"));
  REQUIRE_THROWS_WITH(weight_history_bytes(weight_policy::exact_stash, std::size_t{1} << 40, std::int64_t{1} << 30, 8),
                      Contains("overflows std::size_t") && Contains("1073741824 buffers"));
  REQUIRE_THROWS_WITH(exact_stash<double>(std::size_t{1} << 62, 16), Contains("overflows std::size_t"));
  // error analysis
  REQUIRE_THROWS_WITH(ema_noise_gain(-1, 0.5), Contains("d = -1"));
  REQUIRE_THROWS_WITH(ema_linear_drift(3, 1.0), Contains("beta = 1"));
  REQUIRE_THROWS_WITH(ema_error_coefficient(3, 0.5, -1), Contains("lag must be k >= 0") && Contains("k = -1"));
}
