// CUDA graphs for fixed-shape work (the decoder step), as plain C++ for src/model: no CUDA headers.
//
// Graph::capture runs a callable with this thread's backend work redirected to a capture stream
// (check.h): every kernel, cuBLAS call and copy it enqueues is recorded, nothing executes, and
// the recording is instantiated once. Graph::launch replays it on the backend's stream with one
// call. A graph bakes in every address and launch shape it saw, so the callable must read
// anything that changes between replays from device memory at fixed addresses, and it must not
// allocate (the allocator refuses while recording), synchronise or read back.
#pragma once

#include <functional>

namespace hark::backends::cuda {

class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Records what `body` enqueues (one thread records at a time). Throws hark::Error when the
  // body throws (rethrown as is, e.g. the allocator's kInternal) or CUDA refuses the recording
  // (kInternal); the backend stays usable either way.
  static Graph capture(const std::function<void()>& body);

  // Enqueues one replay on the backend's stream and returns without waiting.
  void launch() const;

  explicit operator bool() const { return exec_ != nullptr; }

 private:
  void* exec_ = nullptr;  // cudaGraphExec_t
};

}  // namespace hark::backends::cuda
