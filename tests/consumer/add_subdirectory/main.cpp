// A user program that builds layerpipe as a subdirectory.
#include <layerpipe/schedule/one_f_one_b.hpp>

#include <iostream>

int main() {
  const layerpipe::schedule s = layerpipe::one_f_one_b(4, 8);
  std::cout << s.name << ": " << s.size() << " actions on " << s.num_devices() << " devices\n";
  return s.size() == 2 * 4 * 8 ? 0 : 1;  // one forward and one backward per stage and micro-batch
}
