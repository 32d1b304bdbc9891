// layerpipe/exec/stage.hpp — what an executor calls: the user's pipeline stages, on the user's
// own tensors.
//
// Executors never assume a tensor type: a `Stages` type names its tensor `typename S::tensor`
// (anything movable: std::vector<double>, a device buffer handle, ...) and provides the passes of
// every global stage index 0 … S−1 for a micro-batch:
//
//   struct my_stages {
//     using tensor = std::vector<double>;
//     tensor input(int mb);                                      // stage 0's input
//     tensor forward(int stage, int mb, const tensor& in);       // the stage's output
//     tensor loss_gradient(int mb, const tensor& output);        // d loss / d output (last stage)
//     tensor backward_input(int stage, int mb, const tensor& grad_out);  // gradient for stage − 1
//     void backward_weight(int stage, int mb);                   // weight gradient (after I)
//     void update(int stage);                                    // optimizer step (U actions)
//     // optional:
//     tensor backward(int stage, int mb, const tensor& grad_out);  // fused B (default: I then W)
//     int num_stages() const;                                    // checked against the schedule
//     int device_of(int stage) const;                            // checked against its placement
//   };
//   static_assert(layerpipe::pipeline_stages<my_stages>);
//
// Contract (what an executor guarantees, so stages need no locks of their own):
//   - all calls for one stage come from one thread (the thread of the stage's device), in the
//     order of the schedule's list for that device; calls for stages on different devices may run
//     concurrently, so stages on different devices must not share unsynchronised mutable state;
//   - input(mb) is called on stage 0's device thread, loss_gradient(mb, out) on the last stage's,
//     right before that stage's backward for mb; forward's output at the last stage is handed to
//     loss_gradient only (the loss itself is the user's business);
//   - every tensor is passed by const reference and not used after the call returns, so a stage
//     keeps (stashes) whatever its backward needs itself;
//   - backward_weight(s, mb) follows backward_input(s, mb); a stage without `backward` gets
//     backward_input then backward_weight for a fused B;
//   - a call that throws stops the whole run; the executor rethrows the first exception.
#pragma once

#include <concepts>

namespace layerpipe {

/// The user's stages as executors see them; see the top of this header for the contract.
template <class S>
concept pipeline_stages =
    requires { typename S::tensor; } && std::movable<typename S::tensor> &&
    requires(S& s, int stage, int mb, const typename S::tensor& t) {
      { s.input(mb) } -> std::convertible_to<typename S::tensor>;
      { s.forward(stage, mb, t) } -> std::convertible_to<typename S::tensor>;
      { s.loss_gradient(mb, t) } -> std::convertible_to<typename S::tensor>;
      { s.backward_input(stage, mb, t) } -> std::convertible_to<typename S::tensor>;
      s.backward_weight(stage, mb);
      s.update(stage);
    };

/// Stages that provide a fused backward (B) of their own.
template <class S>
concept has_fused_backward = pipeline_stages<S> && requires(S& s, int stage, int mb, const typename S::tensor& t) {
  { s.backward(stage, mb, t) } -> std::convertible_to<typename S::tensor>;
};

/// Stages that say how many stages they have (executors check it against the schedule).
template <class S>
concept has_stage_count = requires(const S& s) {
  { s.num_stages() } -> std::convertible_to<int>;
};

/// Stages that say which device each of them was built for (e.g. where their memory lives);
/// executors check it against the schedule's placement.
template <class S>
concept has_stage_devices = requires(const S& s, int stage) {
  { s.device_of(stage) } -> std::convertible_to<int>;
};

}  // namespace layerpipe
