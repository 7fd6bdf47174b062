#include "model/decode_graphs.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "ops/ops.h"
#include "ops/profile.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/graph.h"
#endif

namespace hark::model {

struct DecodeGraphs::Entry {
  DecodeStepBuffers buffers;
#ifdef HARK_HAVE_CUDA
  backends::cuda::Graph graph;
#endif
  uint64_t last_used = 0;
};

namespace {

bool disabled_by_environment() {
  const char* v = std::getenv("HARK_CUDA_GRAPHS");
  return v &&
         (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0);
}

}  // namespace

DecodeGraphs::DecodeGraphs(Device device, const DecodeGraphOptions& options)
    : device_(device), options_(options) {
  if (disabled_by_environment()) options_.enabled = false;
}

DecodeGraphs::~DecodeGraphs() = default;

DecodeGraphStats DecodeGraphs::stats() const {
  std::lock_guard lock(mu_);
  DecodeGraphStats s = stats_;
  s.cached = int64_t(entries_.size());
  s.enabled = device_ == Device::kCuda && options_.enabled && options_.max_graphs >= 1;
  return s;
}

namespace {

void upload_meta(const DecodeStepLayout& lay, std::span<const int64_t> meta,
                 const DecodeGraphs::Io& io, Tensor& dst) {
  ops::copy_from_host(meta, dst);
  if (io.device_ids) {
    Tensor ids_pos = dst.slice_rows(lay.ids_pos(), lay.ids_pos() + 2 * lay.rows);
    ops::set_token_ids(*io.device_ids, io.vocab, ids_pos);
  }
}

}  // namespace

Tensor DecodeGraphs::run_eager(const DecodeStepLayout& lay, std::span<const int64_t> meta,
                               const Body& body, const Make& make, const Io& io) {
  DecodeStepBuffers b = make();
  upload_meta(lay, meta, io, b.meta);
  body(b);
  {
    std::lock_guard lock(mu_);
    ++stats_.eager_steps;
  }
  return b.logits;
}

void DecodeGraphs::evict_one() {
  auto oldest = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->second->last_used < oldest->second->last_used) oldest = it;
  // A replay still in flight keeps running: the graph is freed when it ends, and the buffers go
  // back to the allocator, which hands them out only to work queued after it on the stream.
  entries_.erase(oldest);
  ++stats_.evictions;
}

#ifdef HARK_HAVE_CUDA

DecodeGraphs::Entry* DecodeGraphs::record(int64_t rows, const Body& body, const Make& make) {
  while (!entries_.empty() && int64_t(entries_.size()) >= int64_t(options_.max_graphs)) evict_one();
  auto e = std::make_unique<Entry>();
  e->buffers = make();  // outside the recording: nothing may be allocated inside it
  try {
    e->graph = backends::cuda::Graph::capture([&] { body(e->buffers); });
  } catch (const Error&) {
    failed_.insert(rows);
    ++stats_.failures;
    return nullptr;
  }
  ++stats_.captures;
  Entry* raw = e.get();
  entries_[rows] = std::move(e);
  return raw;
}

Tensor DecodeGraphs::run(const DecodeStepLayout& lay, std::span<const int64_t> meta, bool graphable,
                         const Body& body, const Make& make, const Io& io) {
  HARK_CHECK(int64_t(meta.size()) == lay.size(), ErrorKind::kInternal,
             "decode step: {} metadata values for a layout of {}", meta.size(), lay.size());
  if (device_ != Device::kCuda || !options_.enabled || !graphable || options_.max_graphs < 1 ||
      lay.rows > options_.max_rows || ops::profiling())
    return run_eager(lay, meta, body, make, io);
  std::unique_lock lock(mu_);
  Entry* e = nullptr;
  if (auto it = entries_.find(lay.rows); it != entries_.end()) {
    e = it->second.get();
  } else if (failed_.count(lay.rows) || seen_.insert(lay.rows).second) {
    lock.unlock();
    return run_eager(lay, meta, body, make, io);  // first sight of this row count, or no graph
  } else {
    e = record(lay.rows, body, make);
    if (!e) {
      lock.unlock();
      return run_eager(lay, meta, body, make, io);
    }
  }
  e->last_used = ++clock_;
  upload_meta(lay, meta, io, e->buffers.meta);
  e->graph.launch();
  ++stats_.graph_steps;
  // The entry's logits are overwritten by its next replay: the caller gets its own copy unless
  // it consumes them on the stream first.
  return io.own_logits ? e->buffers.logits.clone() : e->buffers.logits;
}

#else

Tensor DecodeGraphs::run(const DecodeStepLayout& lay, std::span<const int64_t> meta, bool graphable,
                         const Body& body, const Make& make, const Io& io) {
  (void)graphable;
  HARK_CHECK(int64_t(meta.size()) == lay.size(), ErrorKind::kInternal,
             "decode step: {} metadata values for a layout of {}", meta.size(), lay.size());
  return run_eager(lay, meta, body, make, io);
}

DecodeGraphs::Entry* DecodeGraphs::record(int64_t, const Body&, const Make&) { return nullptr; }

#endif

}  // namespace hark::model
