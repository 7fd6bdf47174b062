// decode_batch with CUDA graphs against itself without them and against the CPU model: a schedule
// of steps over five sequences on two windows, with prompts of different lengths, sequences
// joining, leaving and coming back, the row count changing and returning to counts already
// recorded, and rows in a different order from one replay to the next. Graphs on and off run the
// same kernels on the same inputs, so their logits must agree to 1e-6 (relative to the largest
// logit; in practice bit for bit); both must match the CPU within the precision's tolerance
// (model_test.cpp's). The stats prove the graph path ran (captures, replays) and the other did
// not. Plus: eviction with a tiny cache, profiling and HARK_CUDA_GRAPHS=0 turning graphs off,
// and no device memory reserved by replays. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/runtime.h"
#include "bench/shapes.h"
#include "cuda/require_gpu.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "ops/profile.h"
#include "support/compare.h"
#include "support/test_env.h"

namespace hark {
namespace {

using testing::rel_error;

Tensor host(const Tensor& t) { return t.to(Device::kCpu).to_f32(); }

// max |a - b| / max |b| and the number of elements that differ at all (fp32 CPU tensors).
std::pair<double, int64_t> max_rel_diff(const Tensor& a, const Tensor& b) {
  double diff = 0.0, scale = 0.0;
  int64_t differ = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const float x = a.data<float>()[i], y = b.data<float>()[i];
    if (!(x == y)) ++differ;
    diff = std::max(diff, std::fabs(double(x) - double(y)));
    scale = std::max(scale, std::fabs(double(y)));
  }
  return {std::isnan(diff) ? INFINITY : diff / scale, differ};
}

struct GraphCase {
  std::string name;
  bool tiny_shape;  // bench's "tiny" (head_dim 64: the 16-byte-load attention kernel), else the
                    // committed fixture tiny-v3-random (head_dim 16: the general kernel)
  DType dtype;
  double tolerance;  // against the CPU, ||d|| / ||ref||
};

void PrintTo(const GraphCase& c, std::ostream* os) { *os << c.name; }

const model::Checkpoint& checkpoint(bool tiny_shape) {
  static const model::Checkpoint fixture =
      model::load_checkpoint(testing::test_data("models/tiny-v3-random"));
  static const model::Checkpoint tiny = bench::random_checkpoint(bench::shape_config("tiny"), 7);
  return tiny_shape ? tiny : fixture;
}

// A model, its decoder states and the schedule's token lists.
struct Side {
  std::unique_ptr<model::WhisperModel> m;
  std::vector<model::DecoderState> states;
};

// Sequence s: window kWindow[s], prompt of kPrompt[s] tokens the first time it is stepped.
constexpr int kWindow[] = {0, 1, 0, 1, 1};
constexpr int kPrompt[] = {4, 1, 2, 3, 1};
// The sequences stepped at each step, in row order.
const std::vector<std::vector<int>> kSchedule{{0},
                                              {0},
                                              {0, 1},
                                              {0, 1},
                                              {1, 0},
                                              {0, 1, 2},
                                              {0, 1, 2},
                                              {0, 1, 2},
                                              {2, 0},
                                              {1},
                                              {1},
                                              {0, 1, 2, 3},
                                              {0, 1, 2, 3},
                                              {0, 1, 2, 3},
                                              {3, 2, 1, 0},
                                              {4},
                                              {4, 0},
                                              {0, 1, 2, 3, 4},
                                              {0, 1, 2, 3, 4},
                                              {4, 3, 2, 1, 0},
                                              {0, 1, 2, 3, 4},
                                              {2},
                                              {1, 3},
                                              {3, 1},
                                              {0, 1, 2},
                                              {0, 4, 2},
                                              {0, 1, 2, 3, 4}};

class DecodeGraphTest : public ::testing::TestWithParam<GraphCase> {
 protected:
  void SetUp() override {
    HARK_REQUIRE_GPU();
    const model::Checkpoint& ckpt = checkpoint(GetParam().tiny_shape);
    const model::ModelConfig& c = ckpt.config;
    cpu_.m = std::make_unique<model::WhisperModel>(ckpt);
    Tensor mels = Tensor::zeros(DType::kF32, {2, c.n_mels, 2 * int64_t(c.n_audio_ctx)});
    bench::fill_uniform(mels.data<float>(), size_t(mels.numel()), 1.0f, 11);
    enc_ = cpu_.m->encode_batch(mels);
  }

  std::unique_ptr<model::WhisperModel> gpu(const model::DecodeGraphOptions& o) const {
    auto m = std::make_unique<model::WhisperModel>(
        checkpoint(GetParam().tiny_shape), model::ModelPlacement{Device::kCuda, GetParam().dtype});
    m->set_decode_graphs(o);
    return m;
  }

  model::DecoderState window(const model::WhisperModel& m, int w) const {
    const model::ModelConfig& c = m.config();
    return m.begin_window(enc_.slice_rows(w, w + 1).reshape({c.n_audio_ctx, c.n_audio_state}));
  }

  // Runs kSchedule on the CPU and on every GPU model in `gpus` (same tokens: the CPU's greedy
  // picks), checking each step. Returns the number of steps checked.
  int run_schedule(std::vector<Side*> gpus) {
    const model::GenerationConfig& g = checkpoint(GetParam().tiny_shape).generation;
    std::vector<Side*> all{&cpu_};
    all.insert(all.end(), gpus.begin(), gpus.end());
    for (Side* s : all) {
      s->states.clear();
      for (int w : kWindow) s->states.push_back(window(*s->m, w));
    }
    std::vector<std::vector<int>> next(std::size(kWindow));
    std::vector<bool> started(std::size(kWindow), false);
    int steps = 0;
    for (const std::vector<int>& active : kSchedule) {
      SCOPED_TRACE(::testing::Message() << "step " << steps);
      std::vector<std::span<const int>> spans;
      for (int s : active) {
        if (!started[size_t(s)]) {
          started[size_t(s)] = true;
          next[size_t(s)] = {g.sot};
          for (int i = 1; i < kPrompt[s]; ++i) next[size_t(s)].push_back(220 + 37 * i + s);
        }
        spans.emplace_back(next[size_t(s)]);
      }
      std::vector<Tensor> logits;
      for (Side* side : all) {
        std::vector<model::DecoderState*> ptrs;
        for (int s : active) ptrs.push_back(&side->states[size_t(s)]);
        logits.push_back(host(side->m->decode_batch(ptrs, spans)));
      }
      for (size_t i = 1; i < logits.size(); ++i) {
        EXPECT_EQ(logits[i].shape(), logits[0].shape());
        EXPECT_LT(rel_error(logits[i], logits[0]), GetParam().tolerance) << "GPU model " << i;
        const auto [rel, differ] = max_rel_diff(logits[i], logits[1]);
        EXPECT_LE(rel, 1e-6) << "GPU model " << i << " against GPU model 1: " << differ
                             << " logits differ";
        if (differ)
          std::printf("step %d: GPU model %zu: %lld logits differ from model 1 (max rel %.3g)\n",
                      steps, i, static_cast<long long>(differ), rel);
      }
      const std::vector<int> picked = ops::argmax_rows(logits[0], g.eot);
      for (size_t i = 0; i < active.size(); ++i) next[size_t(active[i])] = {picked[i]};
      ++steps;
    }
    return steps;
  }

  Side cpu_;
  Tensor enc_;
};

TEST_P(DecodeGraphTest, GraphsOnEqualGraphsOffAndTheCpu) {
  Side off{gpu({.enabled = false}), {}}, on{gpu({}), {}};
  const int steps = run_schedule({&off, &on});
  const model::DecodeGraphStats so = off.m->decode_graph_stats(), sn = on.m->decode_graph_stats();
  std::printf("graphs on: %lld graph steps, %lld eager, %lld captures, %lld cached\n",
              static_cast<long long>(sn.graph_steps), static_cast<long long>(sn.eager_steps),
              static_cast<long long>(sn.captures), static_cast<long long>(sn.cached));
  EXPECT_FALSE(so.enabled);
  EXPECT_TRUE(sn.enabled);
  EXPECT_EQ(so.graph_steps, 0);
  EXPECT_EQ(so.captures, 0);
  EXPECT_EQ(so.eager_steps, steps);
  // Row counts 1..5 are each recorded once (the second time they come with one token per
  // sequence) and replayed from then on; prompts and first sightings run op by op.
  EXPECT_EQ(sn.captures, 5);
  EXPECT_EQ(sn.failures, 0);
  EXPECT_EQ(sn.cached, 5);
  EXPECT_EQ(sn.graph_steps + sn.eager_steps, steps);
  EXPECT_EQ(sn.graph_steps, 19);
  EXPECT_EQ(sn.eager_steps, 8);
}

// decode_batch_greedy (ids on the device, graphs on) picks what decode_batch + the host argmax
// picks with graphs off, step for step, and its steady steps replay a graph.
TEST_P(DecodeGraphTest, GreedyStepsOnTheDeviceMatchHostPicks) {
  const model::GenerationConfig& g = checkpoint(GetParam().tiny_shape).generation;
  Side off{gpu({.enabled = false}), {}}, on{gpu({}), {}};
  for (Side* s : {&off, &on})
    for (int w : {0, 1, 1}) s->states.push_back(window(*s->m, w));
  std::vector<model::DecoderState*> po, pn;
  for (size_t i = 0; i < 3; ++i) {
    po.push_back(&off.states[i]);
    pn.push_back(&on.states[i]);
  }
  const std::vector<int> p0{g.sot, 300}, p1{g.sot}, p2{g.sot, 301, 302};
  const std::vector<std::span<const int>> prompts{p0, p1, p2};
  std::vector<int> picked = ops::argmax_rows(off.m->decode_batch(po, prompts), g.eot);
  Tensor ids = Tensor::zeros(DType::kI32, {3}).to(Device::kCuda);
  ops::argmax_rows(on.m->decode_batch(pn, prompts), g.eot, ids);
  auto device_picks = [&] {
    const Tensor h = ids.to(Device::kCpu);
    return std::vector<int>(h.data<int>(), h.data<int>() + 3);
  };
  ASSERT_EQ(device_picks(), picked);
  for (int step = 0; step < 8; ++step) {
    std::vector<std::vector<int>> next;
    for (int p : picked) next.push_back({p});
    const std::vector<std::span<const int>> spans(next.begin(), next.end());
    picked = ops::argmax_rows(off.m->decode_batch(po, spans), g.eot);
    on.m->decode_batch_greedy(pn, ids, g.eot, ids);
    EXPECT_EQ(device_picks(), picked) << "step " << step;
  }
  const model::DecodeGraphStats s = on.m->decode_graph_stats();
  EXPECT_EQ(s.captures, 1);     // 3 rows, recorded at its second sighting
  EXPECT_EQ(s.graph_steps, 7);  // and replayed from then on
  EXPECT_EQ(s.eager_steps, 2);  // the prompt step and the first sighting
}

TEST_P(DecodeGraphTest, EvictionKeepsResultsExact) {
  Side off{gpu({.enabled = false}), {}}, small{gpu({.enabled = true, .max_graphs = 2}), {}};
  run_schedule({&off, &small});
  const model::DecodeGraphStats s = small.m->decode_graph_stats();
  EXPECT_LE(s.cached, 2);
  EXPECT_GT(s.evictions, 0);
  EXPECT_GT(s.graph_steps, 0);
}

TEST_P(DecodeGraphTest, RowCountsAboveTheCapRunOpByOp) {
  Side off{gpu({.enabled = false}), {}}, capped{gpu({.enabled = true, .max_rows = 2}), {}};
  run_schedule({&off, &capped});
  const model::DecodeGraphStats s = capped.m->decode_graph_stats();
  EXPECT_EQ(s.captures, 2);  // row counts 1 and 2
  EXPECT_GT(s.graph_steps, 0);
}

TEST_P(DecodeGraphTest, ProfilingAndTheEnvironmentTurnGraphsOff) {
  {
    Side on{gpu({}), {}};
    ops::set_profiling(true);
    run_schedule({&on});
    ops::set_profiling(false);
    ops::reset_profile();
    EXPECT_EQ(on.m->decode_graph_stats().graph_steps, 0);
  }
  ::setenv("HARK_CUDA_GRAPHS", "0", 1);
  Side env{gpu({}), {}};
  ::unsetenv("HARK_CUDA_GRAPHS");
  EXPECT_FALSE(env.m->decode_graph_stats().enabled);
  run_schedule({&env});
  EXPECT_EQ(env.m->decode_graph_stats().graph_steps, 0);
  EXPECT_EQ(env.m->decode_graph_stats().captures, 0);
}

TEST_P(DecodeGraphTest, ReplaysReserveNoDeviceMemory) {
  auto m = gpu({});
  std::vector<model::DecoderState> st;
  for (int w : {0, 1, 0}) st.push_back(window(*m, w));
  std::vector<model::DecoderState*> ptrs{&st[0], &st[1], &st[2]};
  const std::vector<int> tok{220};
  const std::vector<std::span<const int>> spans(3, std::span<const int>(tok));
  for (int i = 0; i < 3; ++i) (void)m->decode_batch(ptrs, spans);  // op by op, record, replay
  backends::cuda::synchronize();
  const backends::cuda::MemoryStats warm = backends::cuda::memory_stats();
  for (int i = 0; i < 20; ++i) (void)m->decode_batch(ptrs, spans);
  backends::cuda::synchronize();
  const backends::cuda::MemoryStats again = backends::cuda::memory_stats();
  EXPECT_EQ(again.in_use + again.cached, warm.in_use + warm.cached);
  EXPECT_EQ(again.in_use, warm.in_use);
  EXPECT_EQ(m->decode_graph_stats().graph_steps, 22);
}

INSTANTIATE_TEST_SUITE_P(Cases, DecodeGraphTest,
                         ::testing::Values(GraphCase{"fixture_f32", false, DType::kF32, 1e-4},
                                           GraphCase{"fixture_f16", false, DType::kF16, 1e-2},
                                           GraphCase{"tiny_f32", true, DType::kF32, 1e-4},
                                           GraphCase{"tiny_f16", true, DType::kF16, 1e-2},
                                           GraphCase{"tiny_bf16", true, DType::kBF16, 6e-2}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace hark
