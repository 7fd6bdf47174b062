// The CUDA model with int8 cross-attention K/V (--cross-kv int8) on the tiny shape with random
// weights, against the CPU model with int8 cross K/V (the same arithmetic up to the activation
// dtype: fp32 1e-4, fp16 1e-2, bf16 6e-2 as model_test.cpp):
// - decode_batch of 3 and 20 sequences over three windows (the third shorter than n_audio_ctx:
//   fewer keys, the same [n_head, n_audio_ctx] head-major scale stride), fed the CPU's greedy
//   picks, for enough steps that the one-token steps replay CUDA graphs (the scale addresses come
//   from the step's metadata); the same steps with graphs off give the same logits bit for bit;
// - decode() (dequantised K/V, the float attention, cross-attention weights asked) against the
//   CPU's decode().
// Every test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "core/error.h"
#include "cuda/require_gpu.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "support/compare.h"

namespace hark {
namespace {

using testing::rel_error;

struct KvCase {
  std::string name;
  DType dtype;
  double tolerance;
};
void PrintTo(const KvCase& c, std::ostream* os) { *os << c.name; }

model::ModelPlacement kv8_on(Device device, DType dtype) {
  model::ModelPlacement p{device, dtype};
  p.int8_cross_kv = true;
  return p;
}

class CudaKvInt8Test : public ::testing::TestWithParam<KvCase> {
 protected:
  void SetUp() override { HARK_REQUIRE_GPU(); }
};

TEST_P(CudaKvInt8Test, DecodeBatchMatchesCpuWithAndWithoutGraphs) {
  const model::ModelConfig cfg = bench::shape_config("tiny");
  const model::Checkpoint ckpt = bench::random_checkpoint(cfg, 7);
  const model::WhisperModel cpu(ckpt, kv8_on(Device::kCpu, DType::kF32));
  model::WhisperModel gpu(ckpt, kv8_on(Device::kCuda, GetParam().dtype));
  model::WhisperModel eager(ckpt, kv8_on(Device::kCuda, GetParam().dtype));
  model::DecodeGraphOptions off;
  off.enabled = false;
  eager.set_decode_graphs(off);
  Tensor mels = Tensor::zeros(DType::kF32, {2, cfg.n_mels, 2 * cfg.n_audio_ctx});
  bench::fill_uniform(mels.data<float>(), size_t(mels.numel()), 1.0f, 11);
  const Tensor cpu_enc = cpu.encode_batch(mels), gpu_enc = gpu.encode_batch(mels);
  const model::GenerationConfig& g = ckpt.generation;
  for (const int n_seq : {3, 20}) {
    SCOPED_TRACE(::testing::Message() << n_seq << " sequences");
    std::vector<model::DecoderState> cs, gs, es;
    std::vector<std::vector<int>> toks;
    for (int i = 0; i < n_seq; ++i) {
      const int w = i % 3;
      const auto win = [&](const Tensor& e) {
        const Tensor full =
            e.slice_rows(w % 2, w % 2 + 1).reshape({cfg.n_audio_ctx, cfg.n_audio_state});
        return w == 2 ? full.slice_rows(0, cfg.n_audio_ctx - 301) : full;
      };
      cs.push_back(cpu.begin_window(win(cpu_enc)));
      gs.push_back(gpu.begin_window(win(gpu_enc)));
      es.push_back(eager.begin_window(win(gpu_enc)));
      toks.push_back({g.sot, 220 + i});
    }
    ASSERT_EQ(gs[0].cross_k[0].dtype(), DType::kI8);
    for (int step = 0; step < 6; ++step) {
      std::vector<model::DecoderState*> cp, gp, ep;
      std::vector<std::span<const int>> spans;
      for (int i = 0; i < n_seq; ++i) {
        cp.push_back(&cs[size_t(i)]);
        gp.push_back(&gs[size_t(i)]);
        ep.push_back(&es[size_t(i)]);
        spans.emplace_back(toks[size_t(i)]);
      }
      const Tensor cl = cpu.decode_batch(cp, spans);
      const Tensor gl = gpu.decode_batch(gp, spans).to(Device::kCpu).to_f32();
      const Tensor el = eager.decode_batch(ep, spans).to(Device::kCpu).to_f32();
      EXPECT_LT(rel_error(gl, cl), GetParam().tolerance) << "step " << step;
      EXPECT_EQ(rel_error(gl, el), 0.0) << "graph and op-by-op steps differ at step " << step;
      const std::vector<int> next = ops::argmax_rows(cl, g.eot);
      for (int i = 0; i < n_seq; ++i) toks[size_t(i)] = {next[size_t(i)]};
    }
  }
  EXPECT_GT(gpu.decode_graph_stats().graph_steps, 0) << "no step replayed a graph";
}

TEST_P(CudaKvInt8Test, DecodeWithCrossAttentionWeightsMatchesCpu) {
  const model::ModelConfig cfg = bench::shape_config("tiny");
  const model::Checkpoint ckpt = bench::random_checkpoint(cfg, 9);
  const model::WhisperModel cpu(ckpt, kv8_on(Device::kCpu, DType::kF32));
  const model::WhisperModel gpu(ckpt, kv8_on(Device::kCuda, GetParam().dtype));
  Tensor mel = Tensor::zeros(DType::kF32, {cfg.n_mels, 2 * cfg.n_audio_ctx});
  bench::fill_uniform(mel.data<float>(), size_t(mel.numel()), 1.0f, 5);
  const Tensor enc = cpu.encode(mel);
  model::DecoderState cst = cpu.begin_window(enc), gst = gpu.begin_window(enc);
  std::vector<Tensor> cw, gw;
  cst.cross_attention_out = &cw;
  gst.cross_attention_out = &gw;
  const std::vector<int> prompt{ckpt.generation.sot, 220, 330, 440};
  const Tensor cl = cpu.decode(cst, prompt, /*all_logits=*/true);
  const Tensor gl = gpu.decode(gst, prompt, /*all_logits=*/true);
  EXPECT_LT(rel_error(gl, cl), GetParam().tolerance);
  ASSERT_EQ(gw.size(), cw.size());
  for (size_t l = 0; l < cw.size(); ++l)
    EXPECT_LT(rel_error(gw[l], cw[l]), GetParam().tolerance) << "layer " << l;
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaKvInt8Test,
                         ::testing::Values(KvCase{"float32", DType::kF32, 1e-4},
                                           KvCase{"float16", DType::kF16, 1e-2},
                                           KvCase{"bfloat16", DType::kBF16, 6e-2}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace hark
