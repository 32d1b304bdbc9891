// layerpipe/core/pass_costs.hpp — the times of one stage's passes (T_F, T_I, T_W), the cost
// vocabulary shared by the cost model (sim/) and cost-aware generators (schedule/).
//
//   layerpipe::pass_costs c{.forward = 1.0, .input_grad = 1.0, .weight_grad = 0.5};
//   double t_b = c.backward();   // T_B = T_I + T_W = 1.5
#pragma once

namespace layerpipe {

/// Times of one stage's passes. The fused backward B always costs T_I + T_W.
struct pass_costs {
  double forward = 1.0;      ///< T_F
  double input_grad = 1.0;   ///< T_I
  double weight_grad = 1.0;  ///< T_W
  constexpr double backward() const noexcept { return input_grad + weight_grad; }
};

}  // namespace layerpipe
