// layerpipe/exec/cuda.cuh — the CUDA executor: a stream per pipeline device on one GPU (or a GPU
// per pipeline device with peer copies), CUDA events for every dependency, one host thread that
// issues the whole step without waiting, one synchronisation at its end. nvcc only (a .cuh).
//
//   struct my_stages {                                   // satisfies layerpipe::cuda_pipeline_stages
//     using tensor = layerpipe::cuda_buffer<float>;      // device memory owned by the tensor
//     tensor input(int mb, cudaStream_t s);
//     tensor forward(int stage, int mb, const tensor& in, cudaStream_t s);   // enqueue, return
//     tensor loss_gradient(int mb, const tensor& out, cudaStream_t s);
//     tensor backward_input(int stage, int mb, const tensor& grad_out, cudaStream_t s);
//     void backward_weight(int stage, int mb, cudaStream_t s);
//     void update(int stage, cudaStream_t s);
//     // optional, as for host stages: backward(stage, mb, grad, s), num_stages(), device_of(stage)
//   };
//   layerpipe::cuda_context ctx;                         // or ctx(options): exec/cuda_options.hpp
//   layerpipe::timeline t = ctx.get_executor().run(layerpipe::one_f_one_b(4, 8), st);
//
// Contract for CUDA stages (the host contract of exec/stage.hpp, with streams):
//   - every call gets the stream of its stage's pipeline device and only ENQUEUES work on it: it
//     returns without waiting, never synchronises the host (no cudaDeviceSynchronize, no
//     reduction read back to the host, no synchronous cudaMemcpy or cudaFree), and uses no other
//     stream. When a call is issued, that stream already waits for everything the call's inputs
//     need (their producers on other streams, through events), so the call may read its input
//     tensors and the stage's own state at once;
//   - the current device during a call is the stream's GPU; a returned tensor is device memory
//     on it, being filled asynchronously by the work the call enqueued;
//   - every tensor passed to or returned from a call stays alive until the step's final
//     synchronisation (run keeps them all), so no buffer is freed while a kernel may read it; a
//     stage keeps its own stashes the same way (free them after run returns, not inside a step);
//   - with capture_graph the calls run once, during stream capture (relaxed mode): only work that
//     can be captured (kernels, async copies, events); the captured graph is then launched;
//   - the streams are non-blocking, so they do not wait for the legacy default stream: data the
//     stages read that was written before run() on another stream must be complete when run()
//     starts (a cudaMemcpy from pageable host memory may return before its DMA has landed:
//     synchronise the default stream after such uploads).
// With gpu_per_device the tensor type must satisfy layerpipe::cuda_tensor (data(), size(),
// construction of n elements on the current device): a SEND allocates the tensor on the
// receiving GPU and copies the bytes with cudaMemcpyPeerAsync on the sender's stream.
//
// How a step runs: prepare_run (lower, validate, check the stages), then detail::plan_cuda_issue
// (exec/detail/cuda_plan.hpp) gives a dependency-respecting order of all actions and, per action,
// the producers on other streams. For each action in that order the one host thread enqueues:
// cudaStreamWaitEvent on those producers' events, an event (start), the stage call(s) with the
// semantics of detail::execute (exec/sequential.hpp), an event (end). On one GPU a SEND is only
// its end event (the receiver waits on it) and a RECV a marker. All streams fork from a start
// event on pipeline device 0's stream and join back into it; that stream is synchronised once.
// With capture_graph the same sequence is captured (timing events become graph event nodes,
// cudaEventRecordExternal), instantiated and launched, then synchronised. Span times are
// cudaEventElapsedTime from the run's start event on the same GPU, in seconds.
//
// Errors: every CUDA call is checked; a failure becomes layerpipe::error naming the call, the
// action (device, step, action) and the CUDA error string. After each action cudaGetLastError
// catches a bad launch made by the stage (an error the caller left pending is reported before
// the first action, not blamed on it). A stage's exception or a CUDA error stops issuing; the
// executor ends a capture or synchronises the streams already used, then rethrows; the context
// stays usable unless the CUDA context itself is broken (a sticky error).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/exec/cuda_options.hpp>
#include <layerpipe/exec/detail/cuda_plan.hpp>
#include <layerpipe/exec/executor.hpp>
#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/exec/stage.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace layerpipe {

/// The user's stages as the CUDA executor sees them: the host concept's calls, each with the
/// stream to enqueue on (see the top of this header for the contract).
template <class S>
concept cuda_pipeline_stages =
    requires { typename S::tensor; } && std::movable<typename S::tensor> &&
    requires(S& s, int stage, int mb, const typename S::tensor& t, cudaStream_t stream) {
      { s.input(mb, stream) } -> std::convertible_to<typename S::tensor>;
      { s.forward(stage, mb, t, stream) } -> std::convertible_to<typename S::tensor>;
      { s.loss_gradient(mb, t, stream) } -> std::convertible_to<typename S::tensor>;
      { s.backward_input(stage, mb, t, stream) } -> std::convertible_to<typename S::tensor>;
      s.backward_weight(stage, mb, stream);
      s.update(stage, stream);
    };

/// CUDA stages with a fused backward (B) of their own.
template <class S>
concept cuda_has_fused_backward =
    cuda_pipeline_stages<S> && requires(S& s, int stage, int mb, const typename S::tensor& t, cudaStream_t stream) {
      { s.backward(stage, mb, t, stream) } -> std::convertible_to<typename S::tensor>;
    };

/// A device tensor the executor can copy between GPUs: n elements constructed on the current
/// device, a pointer to them and their count (bytes = size() * sizeof(element)).
template <class T>
concept cuda_tensor = std::movable<T> && std::constructible_from<T, std::size_t> && requires(T& t, const T& ct) {
  { ct.size() } -> std::convertible_to<std::size_t>;
  requires std::is_pointer_v<decltype(t.data())>;
  requires std::is_object_v<std::remove_pointer_t<decltype(t.data())>>;
  { ct.data() } -> std::convertible_to<const void*>;
};

namespace detail {

[[noreturn]] inline void cuda_fail(cudaError_t e, std::string_view call, const std::string& where) {
  fail("cuda executor: ", call, " failed", where, ": ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
}

inline std::string cuda_where(int device, std::size_t step, const action& a) {
  return " at device " + std::to_string(device) + ", step " + std::to_string(step) + ", action " + to_string(a);
}

}  // namespace detail

/// An uninitialised device array of n trivially copyable T on the GPU that was current at
/// construction (cudaMalloc); freed by the destructor (cudaFree, which synchronises the device:
/// destroy buffers after a step, never inside one). Move-only. Satisfies cuda_tensor.
template <class T>
class cuda_buffer {
  static_assert(std::is_trivially_copyable_v<T>, "cuda_buffer<T>: T must be trivially copyable (it lives in device memory)");

public:
  cuda_buffer() = default;
  explicit cuda_buffer(std::size_t n) : size_(n) {
    if (n == 0) return;
    cudaError_t e = cudaGetDevice(&device_);
    if (e == cudaSuccess) e = cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T));
    if (e != cudaSuccess) {
      data_ = nullptr;
      size_ = 0;
      (void)cudaGetLastError();  // reported by the exception: not left pending for the next check
      detail::fail("cuda_buffer: cudaMalloc of ", n * sizeof(T), " bytes failed: ", cudaGetErrorString(e), " (",
                   cudaGetErrorName(e), ")");
    }
  }
  cuda_buffer(cuda_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), device_(o.device_) {}
  cuda_buffer& operator=(cuda_buffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      device_ = o.device_;
    }
    return *this;
  }
  cuda_buffer(const cuda_buffer&) = delete;
  cuda_buffer& operator=(const cuda_buffer&) = delete;
  ~cuda_buffer() { release(); }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  int device() const noexcept { return device_; }  ///< the GPU the memory lives on

private:
  void release() noexcept {
    if (data_ == nullptr) return;
    int current = 0;
    const bool switch_back = cudaGetDevice(&current) == cudaSuccess && current != device_;
    if (switch_back) (void)cudaSetDevice(device_);
    (void)cudaFree(data_);  // a destructor cannot report; the next checked call would
    if (switch_back) (void)cudaSetDevice(current);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
  int device_ = 0;
};

static_assert(cuda_tensor<cuda_buffer<float>>);

namespace detail {

/// Restores the caller's current device when a run ends, however it ends.
class cuda_device_guard {
public:
  cuda_device_guard() { ok_ = cudaGetDevice(&device_) == cudaSuccess; }
  ~cuda_device_guard() {
    if (ok_) (void)cudaSetDevice(device_);
  }
  cuda_device_guard(const cuda_device_guard&) = delete;
  cuda_device_guard& operator=(const cuda_device_guard&) = delete;

private:
  int device_ = 0;
  bool ok_ = false;
};

/// The user's CUDA stages seen through detail::execute's host interface: the stream is bound,
/// and tensors are handles into the run's store, which keeps every tensor alive until the step
/// has been synchronised (the contract at the top of this header).
template <class Stages>
struct cuda_bound_stages {
  using user_tensor = typename Stages::tensor;
  using tensor = std::size_t;

  Stages& stages;
  std::deque<user_tensor>& store;
  cudaStream_t stream = nullptr;

  tensor hold(user_tensor&& t) {
    store.push_back(std::move(t));
    return store.size() - 1;
  }
  tensor input(int mb) { return hold(user_tensor(stages.input(mb, stream))); }
  tensor forward(int stage, int mb, const tensor& in) { return hold(user_tensor(stages.forward(stage, mb, store[in], stream))); }
  tensor loss_gradient(int mb, const tensor& out) { return hold(user_tensor(stages.loss_gradient(mb, store[out], stream))); }
  tensor backward_input(int stage, int mb, const tensor& g) {
    return hold(user_tensor(stages.backward_input(stage, mb, store[g], stream)));
  }
  tensor backward(int stage, int mb, const tensor& g)
    requires cuda_has_fused_backward<Stages>
  {
    return hold(user_tensor(stages.backward(stage, mb, store[g], stream)));
  }
  void backward_weight(int stage, int mb) { stages.backward_weight(stage, mb, stream); }
  void update(int stage) { stages.update(stage, stream); }
};

/// Where detail::execute's tensors go: one map for the whole run (one host thread issues it
/// all). On one GPU a SEND moves nothing: the receiver's stream waits on the SEND's event. With
/// a GPU per device the SEND copies the tensor to the receiving GPU on the sender's stream.
template <class Stages>
class cuda_run_io {
public:
  using user_tensor = typename Stages::tensor;

  cuda_run_io(std::deque<user_tensor>& store, const std::vector<int>& gpus, bool peer)
      : store_(store), gpus_(gpus), peer_(peer) {}

  void at(int device, std::size_t step, const action& a, cudaStream_t stream) {
    device_ = device;
    step_ = step;
    action_ = &a;
    stream_ = stream;
  }
  std::size_t take(const tensor_key& key, bool) { return items_.take(key, false); }
  void keep(const tensor_key& key, std::size_t h) { items_.keep(key, h); }
  void send(const tensor_key& key, int to) {
    if (!peer_) return;
    if constexpr (cuda_tensor<user_tensor>) {
      const std::size_t h = items_.take(key, false);
      const int from_gpu = gpus_[static_cast<std::size_t>(device_)];
      const int to_gpu = gpus_[static_cast<std::size_t>(to)];
      const std::size_t n = static_cast<std::size_t>(store_[h].size());
      check(cudaSetDevice(to_gpu), "cudaSetDevice (receiving GPU)");
      user_tensor copy(n);  // on the receiving GPU
      check(cudaSetDevice(from_gpu), "cudaSetDevice (sending GPU)");
      using element = std::remove_cv_t<std::remove_pointer_t<decltype(copy.data())>>;
      check(cudaMemcpyPeerAsync(static_cast<void*>(copy.data()), to_gpu, static_cast<const void*>(store_[h].data()),
                                from_gpu, n * sizeof(element), stream_),
            "cudaMemcpyPeerAsync");
      store_.push_back(std::move(copy));
      items_.keep(key, store_.size() - 1);
    } else {
      fail("cuda executor: gpu_per_device needs tensors that satisfy layerpipe::cuda_tensor (internal: checked before the run)");
    }
  }

private:
  void check(cudaError_t e, std::string_view call) const {
    if (e != cudaSuccess) cuda_fail(e, call, cuda_where(device_, step_, *action_));
  }
  std::deque<user_tensor>& store_;
  const std::vector<int>& gpus_;
  bool peer_;
  sequential_io<std::size_t> items_;
  int device_ = 0;
  std::size_t step_ = 0;
  const action* action_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace detail

class cuda_context;

/// A cheap, copyable, comparable handle on a cuda_context (STYLE §2.3); it refers to the context,
/// so it must not outlive it. Handles compare equal when they share a context.
class cuda_executor {
public:
  explicit cuda_executor(cuda_context& ctx) noexcept : ctx_(&ctx) {}
  template <cuda_pipeline_stages Stages>
  timeline run(const schedule& s, Stages& stages) const;
  static constexpr std::string_view name() noexcept { return "cuda"; }
  friend bool operator==(const cuda_executor&, const cuda_executor&) = default;

private:
  cuda_context* ctx_;
};

/// Owns the streams (one per pipeline device, non-blocking) and pools of events, created on
/// first use and reused by later runs; runs on one context are serialised. Constructing a
/// context makes no CUDA call, so it needs no GPU until it runs.
class cuda_context {
public:
  explicit cuda_context(cuda_options options = {}) : options_(std::move(options)) {}
  cuda_context(const cuda_context&) = delete;
  cuda_context& operator=(const cuda_context&) = delete;
  ~cuda_context() { release(); }

  cuda_executor get_executor() noexcept { return cuda_executor(*this); }
  const cuda_options& options() const noexcept { return options_; }
  static constexpr std::string_view name() noexcept { return "cuda"; }

  /// Runs one step of `s` against `stages` (see the top of this header) and returns the timeline
  /// measured with CUDA events, its spans in a dependency-respecting order. Throws
  /// layerpipe::error for an invalid schedule, options the machine cannot honour, or a failed
  /// CUDA call; rethrows a stage's exception.
  template <cuda_pipeline_stages Stages>
  timeline run(const schedule& s, Stages& stages) {
    using user_tensor = typename Stages::tensor;
    const schedule lowered = detail::prepare_run(s, stages);
    std::lock_guard lock(mutex_);
    const bool peer = options_.placement == cuda_placement::gpu_per_device;
    if constexpr (!cuda_tensor<user_tensor>) {
      if (peer)
        detail::fail("cuda executor: gpu_per_device copies tensors between GPUs, so the stages' tensor must satisfy "
                     "layerpipe::cuda_tensor (data(), size(), construction from an element count)");
    }
    int gpu_count = 0;
    if (const cudaError_t e = cudaGetDeviceCount(&gpu_count); e != cudaSuccess) {
      (void)cudaGetLastError();
      detail::cuda_fail(e, "cudaGetDeviceCount", " before the step");
    }
    const int devices = lowered.num_devices();
    const std::vector<int> gpus = detail::gpus_of_devices(options_, devices, gpu_count);
    const detail::cuda_issue_plan plan = detail::plan_cuda_issue(lowered);
    const bool capture = options_.capture_graph;
    const std::size_t n = plan.order.size();
    const std::size_t du = static_cast<std::size_t>(devices);

    detail::cuda_device_guard restore_device;
    prepare_streams(gpus, peer);
    for (auto& [key, pool] : pools_) pool.next = 0;
    auto gpu_of = [&](int d) { return gpus[static_cast<std::size_t>(d)]; };
    std::vector<cudaEvent_t> start(n), end(n), dep(n);
    for (std::size_t id = 0; id < n; ++id) {
      const int g = gpu_of(plan.device_of(id));
      start[id] = acquire(g, true);
      end[id] = acquire(g, true);
      dep[id] = capture ? acquire(g, false) : end[id];
    }
    std::vector<int> distinct = gpus;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    std::map<int, cudaEvent_t> run_start;  // per GPU: spans are timed from it
    for (int g : distinct) run_start[g] = acquire(g, true);
    const cudaEvent_t fork = capture ? acquire(gpu_of(0), false) : run_start[gpu_of(0)];
    std::vector<cudaEvent_t> join(du);
    for (int d = 1; d < devices; ++d) join[static_cast<std::size_t>(d)] = acquire(gpu_of(d), false);

    const cudaStream_t origin = streams_[0];
    std::deque<user_tensor> store;  // every tensor of the step, alive until after the sync
    detail::cuda_bound_stages<Stages> bound{stages, store, nullptr};
    detail::cuda_run_io<Stages> io(store, gpus, peer);
    bool capturing = false;
    const std::string step_where = " for the step of schedule '" + lowered.name + "'";
    auto check = [&](cudaError_t e, std::string_view call) {
      if (e != cudaSuccess) detail::cuda_fail(e, call, step_where);
    };
    auto record_timing = [&](cudaEvent_t ev, cudaStream_t st) {
      return capture ? cudaEventRecordWithFlags(ev, st, cudaEventRecordExternal) : cudaEventRecord(ev, st);
    };
    try {
      check(cudaSetDevice(gpu_of(0)), "cudaSetDevice");
      // An error left pending by the caller would otherwise surface in the first action's
      // cudaGetLastError and be blamed on that stage.
      check(cudaGetLastError(), "a CUDA call before the step (error still pending at cudaGetLastError)");
      if (capture) {
        check(cudaStreamBeginCapture(origin, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
        capturing = true;
      }
      check(record_timing(run_start[gpu_of(0)], origin), "cudaEventRecord (run start)");
      if (capture) check(cudaEventRecord(fork, origin), "cudaEventRecord (fork)");
      for (int d = 1; d < devices; ++d) {  // fork: every stream starts after the run's start
        const int g = gpu_of(d);
        const cudaStream_t st = streams_[static_cast<std::size_t>(d)];
        check(cudaSetDevice(g), "cudaSetDevice");
        check(cudaStreamWaitEvent(st, fork, 0), "cudaStreamWaitEvent (fork)");
        if (g != gpu_of(0) && std::find(gpus.begin(), gpus.begin() + d, g) == gpus.begin() + d)
          check(record_timing(run_start[g], st), "cudaEventRecord (run start of a GPU)");
      }
      const auto t0 = detail::run_clock::now();
      int current_gpu = -1;
      for (const auto& [d, step] : plan.order) {
        const std::size_t id = plan.id(d, step);
        const action& a = lowered.actions[static_cast<std::size_t>(d)][step];
        auto at = [&](cudaError_t e, std::string_view call) {
          if (e != cudaSuccess) detail::cuda_fail(e, call, detail::cuda_where(d, step, a));
        };
        const cudaStream_t st = streams_[static_cast<std::size_t>(d)];
        if (gpu_of(d) != current_gpu) {
          at(cudaSetDevice(gpu_of(d)), "cudaSetDevice");
          current_gpu = gpu_of(d);
        }
        for (std::size_t p : plan.waits[id]) at(cudaStreamWaitEvent(st, dep[p], 0), "cudaStreamWaitEvent");
        at(record_timing(start[id], st), "cudaEventRecord (action start)");
        bound.stream = st;
        io.at(d, step, a, st);
        (void)detail::execute(lowered, bound, a, io, t0);
        at(cudaGetLastError(), "a launch made by the stage (cudaGetLastError after the call)");
        at(cudaSetDevice(gpu_of(d)), "cudaSetDevice (after the stage call)");
        at(record_timing(end[id], st), "cudaEventRecord (action end)");
        if (capture) at(cudaEventRecord(dep[id], st), "cudaEventRecord (dependency)");
      }
      rejoin(gpus, join, origin, check);
      if (capture) {
        cudaGraph_t graph = nullptr;
        capturing = false;
        check(cudaStreamEndCapture(origin, &graph), "cudaStreamEndCapture");
        cudaGraphExec_t exec = nullptr;
        const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
        const cudaError_t launched = made == cudaSuccess ? cudaGraphLaunch(exec, origin) : made;
        const cudaError_t synced = launched == cudaSuccess ? cudaStreamSynchronize(origin) : launched;
        if (exec != nullptr) (void)cudaGraphExecDestroy(exec);
        (void)cudaGraphDestroy(graph);
        check(made, "cudaGraphInstantiate");
        check(launched, "cudaGraphLaunch");
        check(synced, "cudaStreamSynchronize (end of the step)");
      } else {
        check(cudaSetDevice(gpu_of(0)), "cudaSetDevice");
        check(cudaStreamSynchronize(origin), "cudaStreamSynchronize (end of the step)");
      }
    } catch (...) {
      abandon(gpus, join, origin, capturing);
      throw;
    }

    timeline out;
    out.num_devices = devices;
    out.spans.reserve(n);
    for (const auto& [d, step] : plan.order) {
      const std::size_t id = plan.id(d, step);
      const action& a = lowered.actions[static_cast<std::size_t>(d)][step];
      const cudaEvent_t zero = run_start[gpu_of(d)];
      float from = 0.0f, to = 0.0f;
      const cudaError_t e1 = cudaEventElapsedTime(&from, zero, start[id]);
      if (e1 != cudaSuccess) detail::cuda_fail(e1, "cudaEventElapsedTime (span start)", detail::cuda_where(d, step, a));
      const cudaError_t e2 = cudaEventElapsedTime(&to, zero, end[id]);
      if (e2 != cudaSuccess) detail::cuda_fail(e2, "cudaEventElapsedTime (span end)", detail::cuda_where(d, step, a));
      out.spans.push_back(span{d, step, a, 1e-3 * static_cast<double>(from), 1e-3 * static_cast<double>(to)});
    }
    return out;
  }

private:
  struct event_pool {
    std::vector<cudaEvent_t> events;
    std::size_t next = 0;
  };

  /// One non-blocking stream per pipeline device, on its GPU; peer access between the GPUs of
  /// a gpu_per_device run where the hardware allows it (copies work without it, staged).
  void prepare_streams(const std::vector<int>& gpus, bool peer) {
    for (std::size_t d = 0; d < gpus.size(); ++d) {
      if (d < streams_.size() && streams_[d] != nullptr && stream_gpus_[d] == gpus[d]) continue;
      if (d < streams_.size()) {
        if (streams_[d] != nullptr) {
          (void)cudaSetDevice(stream_gpus_[d]);
          (void)cudaStreamDestroy(streams_[d]);
          streams_[d] = nullptr;
        }
      } else {
        streams_.push_back(nullptr);
        stream_gpus_.push_back(gpus[d]);
      }
      stream_gpus_[d] = gpus[d];
      setup_check(cudaSetDevice(gpus[d]), "cudaSetDevice");
      cudaStream_t s = nullptr;
      setup_check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
      streams_[d] = s;
    }
    if (!peer) return;
    for (int a : gpus)
      for (int b : gpus) {
        if (a == b || !enabled_peers_.insert({a, b}).second) continue;
        int can = 0;
        setup_check(cudaDeviceCanAccessPeer(&can, a, b), "cudaDeviceCanAccessPeer");
        if (!can) continue;
        setup_check(cudaSetDevice(a), "cudaSetDevice");
        const cudaError_t e = cudaDeviceEnablePeerAccess(b, 0);
        // Already enabled, or the GPU's peer mappings are used up: copies still work (staged).
        if (e == cudaErrorPeerAccessAlreadyEnabled || e == cudaErrorTooManyPeers) (void)cudaGetLastError();
        else setup_check(e, "cudaDeviceEnablePeerAccess");
      }
  }

  /// An event on `gpu` from the pool (timing events for spans, others for dependencies).
  cudaEvent_t acquire(int gpu, bool timing) {
    event_pool& pool = pools_[{gpu, timing}];
    if (pool.next == pool.events.size()) {
      setup_check(cudaSetDevice(gpu), "cudaSetDevice");
      cudaEvent_t e = nullptr;
      setup_check(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming),
                  "cudaEventCreateWithFlags");
      pool.events.push_back(e);
    }
    return pool.events[pool.next++];
  }

  /// Joins every stream back into pipeline device 0's stream (needed to end a capture, and so
  /// that one synchronisation covers the step).
  template <class Check>
  void rejoin(const std::vector<int>& gpus, const std::vector<cudaEvent_t>& join, cudaStream_t origin, Check&& check) {
    for (std::size_t d = 1; d < gpus.size(); ++d) {
      check(cudaSetDevice(gpus[d]), "cudaSetDevice");
      check(cudaEventRecord(join[d], streams_[d]), "cudaEventRecord (join)");
      check(cudaSetDevice(gpus[0]), "cudaSetDevice");
      check(cudaStreamWaitEvent(origin, join[d], 0), "cudaStreamWaitEvent (join)");
    }
  }

  /// After a failure: end the capture (nothing has run) or wait for what was issued, so no
  /// tensor is freed under a running kernel. Errors here are secondary to the one reported.
  void abandon(const std::vector<int>& gpus, const std::vector<cudaEvent_t>& join, cudaStream_t origin, bool capturing) {
    if (capturing) {
      rejoin(gpus, join, origin, [](cudaError_t, std::string_view) {});
      cudaGraph_t graph = nullptr;
      (void)cudaSetDevice(gpus[0]);
      (void)cudaStreamEndCapture(origin, &graph);
      if (graph != nullptr) (void)cudaGraphDestroy(graph);
      for (std::size_t d = 0; d < gpus.size(); ++d) {  // a stream left in capture ends it too
        cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
        (void)cudaSetDevice(gpus[d]);
        if (cudaStreamIsCapturing(streams_[d], &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
          cudaGraph_t g = nullptr;
          (void)cudaStreamEndCapture(streams_[d], &g);
          if (g != nullptr) (void)cudaGraphDestroy(g);
        }
      }
    } else {
      for (std::size_t d = 0; d < gpus.size(); ++d) {
        (void)cudaSetDevice(gpus[d]);
        (void)cudaStreamSynchronize(streams_[d]);
      }
    }
    (void)cudaGetLastError();  // clear a non-sticky error so the next run starts clean
  }

  static void setup_check(cudaError_t e, std::string_view call) {
    if (e == cudaSuccess) return;
    (void)cudaGetLastError();  // thrown here, so not left pending to be blamed on a stage later
    detail::cuda_fail(e, call, " while preparing streams and events");
  }

  void release() noexcept {
    int current = 0;
    const bool restore = cudaGetDevice(&current) == cudaSuccess;
    for (std::size_t d = 0; d < streams_.size(); ++d) {
      if (streams_[d] == nullptr) continue;
      (void)cudaSetDevice(stream_gpus_[d]);
      (void)cudaStreamDestroy(streams_[d]);
    }
    for (auto& [key, pool] : pools_) {
      (void)cudaSetDevice(key.first);
      for (cudaEvent_t e : pool.events) (void)cudaEventDestroy(e);
    }
    if (restore) (void)cudaSetDevice(current);
  }

  cuda_options options_;
  std::mutex mutex_;
  std::vector<cudaStream_t> streams_;  // per pipeline device
  std::vector<int> stream_gpus_;
  std::map<std::pair<int, bool>, event_pool> pools_;  // (gpu, timing)
  std::set<std::pair<int, int>> enabled_peers_;  // (from, to) pairs already set up
};

template <cuda_pipeline_stages Stages>
timeline cuda_executor::run(const schedule& s, Stages& stages) const {
  return ctx_->run(s, stages);
}

static_assert(pipeline_executor<cuda_executor>);

}  // namespace layerpipe
