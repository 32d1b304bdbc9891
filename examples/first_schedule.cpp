// first_schedule — generate a 1F1B schedule, check it, simulate it, and read its bubble.
//
//   time →     warm-up      steady 1F1B          cool-down
//   device 0   F0 F1 F2 F3  B0 F4 B1 F5 B2 ...   B7
//   device 3            F0  B0 F1 B1 F2 B2 ...
//
// Every device runs its list in order; an action starts when its device is free and its inputs
// have arrived. The idle time at the start and end of each device is the pipeline bubble.
#include <layerpipe/layerpipe.hpp>

#include <iostream>

int main() {
  const int devices = 4, micro_batches = 8;
  layerpipe::schedule s = layerpipe::one_f_one_b(devices, micro_batches);
  layerpipe::validate(s);  // throws layerpipe::error naming device, step and rule if broken

  // Forward 1, input gradient 1, weight gradient 1: a full backward costs 2.
  const auto costs = layerpipe::cost_model::uniform({1.0, 1.0, 1.0});
  const layerpipe::timeline t = layerpipe::simulate(s, costs);
  const layerpipe::schedule_metrics m = layerpipe::measure(s, t, costs);

  std::cout << layerpipe::text_grid(s) << '\n'
            << "makespan " << m.makespan << ", bubble " << m.bubble_ratio
            << " (formula (P-1)/(M+P-1) = " << double(devices - 1) / (micro_batches + devices - 1) << ")\n"
            << "peak activations on device 0: " << m.devices[0].peak_activations << " micro-batches\n";
}
