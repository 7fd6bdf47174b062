// Graph::capture / launch (graph.h). Recording uses cudaStreamCaptureModeThreadLocal on the
// capture stream, so other threads may keep allocating and launching on the main stream while
// one thread records; a mutex lets one thread record at a time (there is one capture stream).
#include "backends/cuda/graph.h"

#include <cuda_runtime_api.h>

#include <mutex>

#include "backends/cuda/check.h"

namespace hark::backends::cuda {
namespace {

// Ends a recording that went wrong and drops what was recorded; clears the error it leaves.
void abandon(cudaStream_t s) {
  cudaGraph_t g = nullptr;
  if (cudaStreamEndCapture(s, &g) == cudaSuccess && g) (void)cudaGraphDestroy(g);
  (void)cudaGetLastError();
}

}  // namespace

// An executable graph destroyed while a replay is in flight is freed when the replay ends.
Graph::~Graph() {
  if (exec_) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}

Graph::Graph(Graph&& other) noexcept : exec_(other.exec_) { other.exec_ = nullptr; }

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    if (exec_) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
    exec_ = other.exec_;
    other.exec_ = nullptr;
  }
  return *this;
}

Graph Graph::capture(const std::function<void()>& body) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  (void)detail::stream();  // creates the context (throws without a device)
  detail::set_capturing(true);
  const cudaStream_t s = detail::stream();
  if (const cudaError_t err = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
      err != cudaSuccess) {
    detail::set_capturing(false);
    (void)cudaGetLastError();
    detail::throw_cuda(err, "cudaStreamBeginCapture");
  }
  try {
    body();
  } catch (...) {
    detail::set_capturing(false);
    abandon(s);
    throw;
  }
  detail::set_capturing(false);
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamEndCapture(s, &graph);
  if (err != cudaSuccess) {
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    detail::throw_cuda(err, "cudaStreamEndCapture");
  }
  cudaGraphExec_t exec = nullptr;
  err = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    detail::throw_cuda(err, "cudaGraphInstantiate");
  }
  Graph g;
  g.exec_ = exec;
  return g;
}

void Graph::launch() const {
  if (!exec_) throw Error(ErrorKind::kInternal, "Graph::launch: nothing was recorded");
  detail::check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), detail::stream()),
                "cudaGraphLaunch");
}

}  // namespace hark::backends::cuda
