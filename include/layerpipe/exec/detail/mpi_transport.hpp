// layerpipe/exec/detail/mpi_transport.hpp — the MPI executor's messages (exec/mpi.hpp): tag
// layout and its MPI_TAG_UB check, non-blocking sends that own their buffers until they
// complete, matched-probe receives, the io object detail::execute drives on one rank, and the
// abort that ends the job when a rank fails.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/schedule.hpp>


// layerpipe calls MPI's C API only; the MPI-2 C++ bindings that Debian's Open MPI pulls in by
// default (mpicxx.h) are deprecated and fail -Wextra -Werror, so skip them unless the user's own
// code included <mpi.h> with them first.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <ranges>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layerpipe::detail {

inline void mpi_check(int rc, std::string_view call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  fail("mpi executor: ", call, " failed: ", std::string_view(text, static_cast<std::size_t>(length)));
}

template <class T>
MPI_Datatype mpi_type_of() {
  if constexpr (std::same_as<T, float>) return MPI_FLOAT;
  else return MPI_DOUBLE;
}

/// Message tags of one run: (kind·S + stage)·M + micro-batch (see the top of exec/mpi.hpp).
struct mpi_tags {
  int stages = 0;
  int micro_batches = 0;
  int of(tensor_slot slot, int stage, int mb) const {
    return ((slot == tensor_slot::activation ? 0 : 1) * stages + stage) * micro_batches + mb;
  }
  int gradient_copy(int stage) const { return (2 * stages + stage) * micro_batches; }
};

/// Checks that every tag of an S-stage, M-micro-batch schedule stays at or below `tag_ub`.
inline mpi_tags plan_mpi_tags(const schedule& s, long long tag_ub) {
  const long long largest = 3LL * s.num_stages() * s.micro_batches - 1;
  if (largest > tag_ub)
    fail("mpi executor: schedule '", s.name, "' needs message tags up to ", largest, " (3 x ", s.num_stages(),
         " stages x ", s.micro_batches, " micro-batches) but the communicator's MPI_TAG_UB is ", tag_ub,
         " (rule: one tag per (kind, stage, micro-batch), at most MPI_TAG_UB)");
  return {s.num_stages(), s.micro_batches};
}

/// MPI_TAG_UB, the same for every communicator; the standard attaches it to MPI_COMM_WORLD only
/// (Open MPI's split communicators do not carry it).
inline long long mpi_tag_ub() {
  void* value = nullptr;
  int found = 0;
  mpi_check(MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &value, &found), "MPI_Comm_get_attr(MPI_TAG_UB)");
  return found ? static_cast<long long>(*static_cast<int*>(value)) : 32767LL;  // the standard's minimum
}

/// Non-blocking sends whose buffers live until they complete, and matched-probe receives.
class mpi_mailer {
public:
  explicit mpi_mailer(MPI_Comm comm) : comm_(comm) {}
  mpi_mailer(const mpi_mailer&) = delete;
  mpi_mailer& operator=(const mpi_mailer&) = delete;

  template <class Buffer>
  void post(int to, int tag, Buffer buffer) {
    auto held = std::make_shared<Buffer>(std::move(buffer));
    const int bytes = byte_count(*held);
    MPI_Request request = MPI_REQUEST_NULL;
    mpi_check(MPI_Isend(std::ranges::data(*held), bytes, MPI_BYTE, to, tag, comm_, &request), "MPI_Isend");
    pending_.push_back({request, std::move(held)});
    reap();
  }

  template <class Buffer>
  Buffer receive(int from, int tag) {
    using value = std::ranges::range_value_t<Buffer>;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    mpi_check(MPI_Mprobe(from, tag, comm_, &message, &status), "MPI_Mprobe");
    int bytes = 0;
    mpi_check(MPI_Get_count(&status, MPI_BYTE, &bytes), "MPI_Get_count");
    if (bytes < 0 || static_cast<std::size_t>(bytes) % sizeof(value) != 0) {
      std::vector<char> sink(static_cast<std::size_t>(std::max(bytes, 0)));  // consume it, then report
      MPI_Mrecv(sink.data(), std::max(bytes, 0), MPI_BYTE, &message, MPI_STATUS_IGNORE);
      fail("mpi executor: a message of ", bytes, " bytes from device ", from, " is not a whole number of ",
           sizeof(value), "-byte elements (rule: every rank uses the same tensor type)");
    }
    Buffer out;
    out.resize(static_cast<std::size_t>(bytes) / sizeof(value));
    mpi_check(MPI_Mrecv(std::ranges::data(out), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
    return out;
  }

  /// Frees the oldest sends that have completed (they complete about in order).
  void reap() {
    while (!pending_.empty()) {
      int done = 0;
      mpi_check(MPI_Test(&pending_.front().request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (!done) return;
      pending_.pop_front();
    }
  }
  /// Completes every send.
  void finish() {
    for (auto& p : pending_) mpi_check(MPI_Wait(&p.request, MPI_STATUS_IGNORE), "MPI_Wait");
    pending_.clear();
  }

private:
  template <class Buffer>
  static int byte_count(const Buffer& b) {
    const std::size_t bytes = std::ranges::size(b) * sizeof(std::ranges::range_value_t<Buffer>);
    if (bytes > static_cast<std::size_t>(INT_MAX))
      fail("mpi executor: a tensor of ", bytes, " bytes is larger than one MPI message can carry (", INT_MAX,
           " bytes; rule: split the stage's output)");
    return static_cast<int>(bytes);
  }
  struct pending {
    MPI_Request request;
    std::shared_ptr<void> buffer;  // type-erased owner of the bytes being sent
  };
  MPI_Comm comm_;
  std::list<pending> pending_;
};

/// The io object detail::execute drives on one rank: local tensors in a map, remote ones by MPI.
template <class Tensor>
class mpi_io {
public:
  mpi_io(mpi_mailer& mail, const schedule& s, const mpi_tags& tags) : mail_(mail), s_(s), tags_(tags) {}

  Tensor take(const tensor_key& key, bool from_other_device) {
    if (!from_other_device) return local_.take(key, false);
    if (auto it = early_.find(key); it != early_.end()) {
      Tensor t = std::move(it->second);
      early_.erase(it);
      return t;
    }
    const int producer = key.slot == tensor_slot::activation ? key.stage - 1 : key.stage + 1;
    return mail_.receive<Tensor>(s_.placement.device_of(producer), tags_.of(key.slot, key.stage, key.micro_batch));
  }
  /// Receives a remote tensor now, for a later take: an OVERLAP_F_B pair starts once both of
  /// its halves' inputs are in hand (as the engine models it), so its span starts after both.
  void prefetch(const tensor_key& key) { early_.insert_or_assign(key, take(key, true)); }
  void keep(const tensor_key& key, Tensor t) { local_.keep(key, std::move(t)); }
  void send(const tensor_key& key, int to) {
    mail_.post(to, tags_.of(key.slot, key.stage, key.micro_batch), local_.take(key, false));
  }

private:
  mpi_mailer& mail_;
  const schedule& s_;
  mpi_tags tags_;
  sequential_io<Tensor> local_;
  std::map<tensor_key, Tensor> early_;
};

[[noreturn]] inline void mpi_abort_run(MPI_Comm comm, int world_rank, int device, std::size_t step, const action& a,
                                       std::string_view what) {
  const std::string token = to_string(a);
  std::fprintf(stderr, "layerpipe mpi: rank %d failed at action %s (device %d, step %zu): %.*s\n", world_rank,
               token.c_str(), device, step, static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  MPI_Abort(comm, 1);
  std::abort();  // MPI_Abort does not return; if an implementation did, never run on
}

}  // namespace layerpipe::detail
