// The CUDA model with int8 linear weights (--compute-type int8_float16 and friends) on the
// committed random-weight fixture tiny-v3-random and on the tiny shape with random weights:
// - against the CPU model with the same int8 weights: the same arithmetic up to the activation
//   dtype, so the activation dtype's tolerance (fp32 1e-4, fp16 1e-2, bf16 6e-2 as in
//   model_test.cpp);
// - against the fp32 CPU model: encoder output within 3e-2 (8e-2 with bf16 activations;
//   tests/model/int8_model_test.cpp says why) and teacher-forced top-1 agreement >= 95 %;
// - the decoder one token at a time (the direct int8 kernel, 1 row) against all tokens at once
//   (the dequantise + GEMM path), decode_batch with 3 and 20 sequences (both paths);
// - device memory: the int8 model holds its linear weights in int8 (no fp16 copy resident), and a
//   second pass reserves no new memory (the dequantisation scratch is reused).
// Every test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/runtime.h"
#include "bench/shapes.h"
#include "core/error.h"
#include "cuda/require_gpu.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "support/compare.h"
#include "support/test_env.h"

namespace hark {
namespace {

using testing::rel_error;
using testing::top1_agreement;
using testing::top1_agreement_up_to_ties;

model::ModelPlacement int8_on(Device device, DType dtype) {
  model::ModelPlacement p{device, dtype};
  p.int8_weights = true;
  return p;
}

struct Fixture {
  model::Checkpoint ckpt;
  std::unique_ptr<model::WhisperModel> cpu, cpu_int8;
  Tensor mel;
  std::vector<int> ids;
  Tensor cpu_enc, cpu_logits, int8_enc, int8_logits;
};

const Fixture& fixture() {
  static const std::unique_ptr<Fixture> f = [] {
    auto f = std::make_unique<Fixture>();
    const std::string dir = testing::test_data("models/tiny-v3-random");
    f->ckpt = model::load_checkpoint(dir);
    const model::SafetensorsWeights ref = model::read_safetensors(dir + "/reference.safetensors");
    f->cpu = std::make_unique<model::WhisperModel>(f->ckpt);
    f->cpu_int8 =
        std::make_unique<model::WhisperModel>(f->ckpt, int8_on(Device::kCpu, DType::kF32));
    f->mel = ref.tensors.at("mel").to_f32();
    f->ids = testing::token_ids(ref.tensors.at("tf_input_ids"));
    f->cpu_enc = f->cpu->encode(f->mel);
    f->int8_enc = f->cpu_int8->encode(f->mel);
    model::DecoderState st = f->cpu->begin_window(f->cpu_enc);
    f->cpu_logits = f->cpu->decode(st, f->ids, /*all_logits=*/true);
    model::DecoderState st8 = f->cpu_int8->begin_window(f->int8_enc);
    f->int8_logits = f->cpu_int8->decode(st8, f->ids, /*all_logits=*/true);
    return f;
  }();
  return *f;
}

struct Int8Case {
  std::string name;
  DType dtype;
  double tolerance;  // against the CPU int8 model
  double vs_fp32;    // encoder output against the fp32 CPU model
};

void PrintTo(const Int8Case& c, std::ostream* os) { *os << c.name; }

class CudaInt8ModelTest : public ::testing::TestWithParam<Int8Case> {
 protected:
  void SetUp() override {
    HARK_REQUIRE_GPU();
    gpu_ = std::make_unique<model::WhisperModel>(fixture().ckpt,
                                                 int8_on(Device::kCuda, GetParam().dtype));
  }
  double tol() const { return GetParam().tolerance; }
  std::unique_ptr<model::WhisperModel> gpu_;
};

TEST_P(CudaInt8ModelTest, EncoderOutput) {
  const Fixture& f = fixture();
  const Tensor enc = gpu_->encode(f.mel);
  EXPECT_EQ(enc.device(), Device::kCuda);
  EXPECT_EQ(enc.dtype(), GetParam().dtype);
  const double vs_int8 = rel_error(enc, f.int8_enc), vs_f32 = rel_error(enc, f.cpu_enc);
  std::printf("%s encoder: vs CPU int8 %.3g, vs CPU fp32 %.3g\n", GetParam().name.c_str(), vs_int8,
              vs_f32);
  EXPECT_LT(vs_int8, tol());
  EXPECT_LT(vs_f32, GetParam().vs_fp32);
}

TEST_P(CudaInt8ModelTest, TeacherForcedLogits) {
  const Fixture& f = fixture();
  const Tensor enc = gpu_->encode(f.mel);
  model::DecoderState st = gpu_->begin_window(enc);
  const Tensor logits = gpu_->decode(st, f.ids, /*all_logits=*/true);
  // The GPU's int8 path against the CPU's (the same quantised weights): the same top-1 tokens up to
  // ties within the dtype's tolerance. On the H100, int8_float16 flipped one near-tie of 10
  // against both CPU models at a logits error of 1.5e-3 while bf16 (1.8e-2) did not: this
  // random-weight fixture's logits are flat. Against fp32 the quantisation itself moves near-ties,
  // so that bound is a coarse sanity check; the relative error bounds are the precise ones.
  double gap = 0.0;
  const double agree = top1_agreement(logits, f.cpu_logits);
  const double agree_int8 = top1_agreement_up_to_ties(logits, f.int8_logits, tol(), &gap);
  std::printf(
      "%s logits: vs CPU int8 %.3g (top-1 up to ties %.3f, worst gap %.2g), top-1 vs CPU "
      "fp32 %.3f over %zu positions\n",
      GetParam().name.c_str(), rel_error(logits, f.int8_logits), agree_int8, gap, agree,
      f.ids.size());
  EXPECT_LT(rel_error(logits, f.int8_logits), tol());
  EXPECT_EQ(agree_int8, 1.0);
  EXPECT_GE(agree, 0.8);

  // One token at a time: every linear layer takes the direct int8 kernel (1 row).
  model::DecoderState st2 = gpu_->begin_window(enc);
  const int64_t v = f.ckpt.config.n_vocab;
  Tensor steps = Tensor::zeros(DType::kF32, {int64_t(f.ids.size()), v});
  for (size_t i = 0; i < f.ids.size(); ++i) {
    const Tensor l = gpu_->decode(st2, std::span<const int>(&f.ids[i], 1));
    std::copy_n(l.data<float>(), v, steps.data<float>() + int64_t(i) * v);
  }
  EXPECT_LT(rel_error(steps, f.int8_logits), tol());
  EXPECT_EQ(top1_agreement_up_to_ties(steps, f.int8_logits, tol(), &gap), 1.0);
  EXPECT_GE(top1_agreement(steps, f.cpu_logits), 0.8);
}

TEST_P(CudaInt8ModelTest, NoDriverAllocationsAfterWarmUp) {
  const Fixture& f = fixture();
  const auto run = [&] {
    model::DecoderState st = gpu_->begin_window(gpu_->encode(f.mel));
    gpu_->decode(st, f.ids, true);
  };
  run();
  const backends::cuda::MemoryStats warm = backends::cuda::memory_stats();
  run();
  const backends::cuda::MemoryStats again = backends::cuda::memory_stats();
  EXPECT_EQ(again.in_use + again.cached, warm.in_use + warm.cached);
  EXPECT_EQ(again.in_use, warm.in_use);
}

// The batched passes on the tiny shape (d 384, random weights) against the CPU int8 model: two
// windows through encode_batch (dequantise + GEMM), then decode_batch steps of 3 sequences (the
// direct kernel) and of 20 (more than kInt8DirectRows rows: dequantise + GEMM), each step fed the
// CPU's greedy picks.
TEST_P(CudaInt8ModelTest, BatchedPassesMatchCpuOnTinyShape) {
  const model::ModelConfig cfg = bench::shape_config("tiny");
  const model::Checkpoint ckpt = bench::random_checkpoint(cfg, 7);
  const model::WhisperModel cpu(ckpt, int8_on(Device::kCpu, DType::kF32));
  const model::WhisperModel gpu(ckpt, int8_on(Device::kCuda, GetParam().dtype));
  Tensor mels = Tensor::zeros(DType::kF32, {2, cfg.n_mels, 2 * cfg.n_audio_ctx});
  bench::fill_uniform(mels.data<float>(), size_t(mels.numel()), 1.0f, 11);
  const Tensor cpu_enc = cpu.encode_batch(mels), gpu_enc = gpu.encode_batch(mels);
  EXPECT_LT(rel_error(gpu_enc, cpu_enc), tol());
  const model::GenerationConfig& g = ckpt.generation;
  for (const int n_seq : {3, 20}) {
    SCOPED_TRACE(::testing::Message() << n_seq << " sequences");
    std::vector<model::DecoderState> cs, gs;
    std::vector<std::vector<int>> toks;
    for (int i = 0; i < n_seq; ++i) {
      const int w = i % 2;
      cs.push_back(cpu.begin_window(
          cpu_enc.slice_rows(w, w + 1).reshape({cfg.n_audio_ctx, cfg.n_audio_state})));
      gs.push_back(gpu.begin_window(
          gpu_enc.slice_rows(w, w + 1).reshape({cfg.n_audio_ctx, cfg.n_audio_state})));
      toks.push_back({g.sot, 220 + i});
    }
    for (int step = 0; step < 4; ++step) {
      std::vector<model::DecoderState*> cp, gp;
      std::vector<std::span<const int>> spans;
      for (int i = 0; i < n_seq; ++i) {
        cp.push_back(&cs[size_t(i)]);
        gp.push_back(&gs[size_t(i)]);
        spans.emplace_back(toks[size_t(i)]);
      }
      const Tensor cl = cpu.decode_batch(cp, spans);
      const Tensor gl = gpu.decode_batch(gp, spans).to(Device::kCpu).to_f32();
      EXPECT_LT(rel_error(gl, cl), tol()) << "step " << step;
      const std::vector<int> next = ops::argmax_rows(cl, g.eot);
      for (int i = 0; i < n_seq; ++i) toks[size_t(i)] = {next[size_t(i)]};
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaInt8ModelTest,
                         // int8 alone: 2.5e-2 from fp32 on this fixture (CPU); fp16 adds ~1e-3,
                         // bf16 2-5e-2 (model_test.cpp), in quadrature.
                         ::testing::Values(Int8Case{"int8_float32", DType::kF32, 1e-4, 3e-2},
                                           Int8Case{"int8_float16", DType::kF16, 1e-2, 3e-2},
                                           Int8Case{"int8_bfloat16", DType::kBF16, 6e-2, 8e-2}),
                         [](const auto& info) { return info.param.name; });

// The device memory the weights take: an fp16 model and an int8_float16 one of the tiny shape,
// measured through the allocator's bytes in use. Each linear weight [N, K] saves N K - 4 N bytes
// (2 N K of fp16 against N K of int8 plus N fp32 scales). Blocks are rounded up to 512 B, or to
// whole MiB from 1 MiB up (tiny's fp16 fc1/fc2 weights, 1.1 MiB, take 2 MiB), so the measured
// saving is at least the computed one (an fp16 copy left on the device would cut it by half or
// more) but may exceed it.
TEST(CudaInt8Memory, NoFp16CopyOfQuantisedWeightsStaysResident) {
  HARK_REQUIRE_GPU();
  const model::ModelConfig cfg = bench::shape_config("tiny");
  const model::Checkpoint ckpt = bench::random_checkpoint(cfg, 3);
  const auto weights_on_device = [&](const model::ModelPlacement& p) {
    backends::cuda::release_cached_memory();
    const size_t before = backends::cuda::memory_stats().in_use;
    const model::WhisperModel m(ckpt, p);
    const size_t after = backends::cuda::memory_stats().in_use;
    std::printf("%s: %.2f MiB of weights on the device (weight_bytes %.2f MiB)\n",
                p.int8_weights ? "int8_float16" : "float16", double(after - before) / 1048576.0,
                double(m.weight_bytes()) / 1048576.0);
    return std::pair<double, double>(double(after - before), double(m.weight_bytes()));
  };
  const auto [f16, f16_bytes] = weights_on_device({Device::kCuda, DType::kF16});
  const auto [i8, i8_bytes] = weights_on_device(int8_on(Device::kCuda, DType::kF16));
  const auto saving = [](double n, double k) { return n * k - 4 * n; };
  const double de = cfg.n_audio_state, dt = cfg.n_text_state;
  const double expected =
      cfg.n_audio_layer *
          (4 * saving(de, de) + saving(cfg.n_audio_ffn, de) + saving(de, cfg.n_audio_ffn)) +
      cfg.n_text_layer *
          (8 * saving(dt, dt) + saving(cfg.n_text_ffn, dt) + saving(dt, cfg.n_text_ffn));
  EXPECT_EQ(f16_bytes - i8_bytes, expected);
  EXPECT_GE(f16 - i8, expected) << "the int8 model keeps more than its int8 weights";
}

}  // namespace
}  // namespace hark
