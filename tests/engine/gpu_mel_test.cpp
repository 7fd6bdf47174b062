// The engine on a GPU computes the log-mel and every window of it on the device (ops::log_mel,
// ops::mel_window); on the CPU with kissfft. With the trained synthetic model (tests/data/models/
// synth-small) in fp32 on both, the transcripts must be the same: language detection (encode of
// the first 3000 frames of the padded mel), every window's segments and tokens, on a short clip
// and on a 40 s one (several windows, the last zero-padded in the log-mel domain). Skips without
// a GPU.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif
#include "hark/audio.h"
#include "hark/engine.h"
#include "support/test_env.h"

namespace hark {
namespace {

bool gpu_available() {
#ifdef HARK_HAVE_CUDA
  return backends::cuda::available();
#else
  return false;
#endif
}

std::unique_ptr<Engine> load(const std::string& device, const std::string& compute_type) {
  EngineOptions eo;
  eo.model_path = testing::test_data("models/synth-small");
  eo.tokenizer_path = testing::asset("multilingual.tiktoken");
  eo.device = device;
  eo.compute_type = compute_type;
  eo.threads = 2;
  return Engine::load(eo);
}

std::vector<float> clip(const std::string& name) {
  return decode_audio_file(testing::test_data("synth-heldout/" + name));
}

TranscribeOptions greedy() {
  TranscribeOptions o;  // language auto: detected on the first window
  o.beam_size = 1;
  o.temperature = {0.0};
  return o;
}

void expect_same_transcript(const Result& cpu, const Result& gpu) {
  EXPECT_EQ(gpu.language, cpu.language);
  EXPECT_EQ(gpu.text, cpu.text);
  ASSERT_EQ(gpu.segments.size(), cpu.segments.size());
  for (size_t i = 0; i < cpu.segments.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "segment " << i);
    EXPECT_EQ(gpu.segments[i].seek, cpu.segments[i].seek);
    EXPECT_EQ(gpu.segments[i].tokens, cpu.segments[i].tokens);
    EXPECT_DOUBLE_EQ(gpu.segments[i].start, cpu.segments[i].start);
    EXPECT_DOUBLE_EQ(gpu.segments[i].end, cpu.segments[i].end);
  }
}

TEST(GpuMel, TranscriptEqualsTheCpuEngines) {
  if (!gpu_available()) GTEST_SKIP() << "no CUDA device on this machine";
  const auto cpu = load("cpu", "float32");
  const auto gpu = load("cuda", "float32");
  ASSERT_EQ(gpu->info().device.rfind("cuda", 0), 0u) << gpu->info().device;

  std::vector<float> short_clip = clip("en-00.wav");
  // de, en, es, it and en again with a second of silence between: ~40 s, two windows or more.
  std::vector<float> long_clip;
  for (const char* name : {"de-00.wav", "en-00.wav", "es-00.wav", "it-00.wav", "en-01.wav"}) {
    const std::vector<float> c = clip(name);
    long_clip.insert(long_clip.end(), c.begin(), c.end());
    long_clip.insert(long_clip.end(), 16000, 0.0f);
  }
  ASSERT_GT(long_clip.size(), size_t(16000 * 35));

  for (const std::vector<float>* pcm : {&short_clip, &long_clip}) {
    SCOPED_TRACE(::testing::Message() << pcm->size() << " samples");
    const Result c = cpu->transcribe(*pcm, greedy());
    const Result g = gpu->transcribe(*pcm, greedy());
    ASSERT_FALSE(c.segments.empty());
    EXPECT_FALSE(c.text.empty());
    expect_same_transcript(c, g);
    // The device time of the upload and the mel (events on the stream), not zero.
    EXPECT_GT(g.timings.mel_ms, 0.0);
  }
}

// The fp16 engine feeds the encoder fp16 windows made on the device: same language and text as
// the CPU on the short clip (the synthetic model is confident enough for fp16).
TEST(GpuMel, Float16EngineTranscribes) {
  if (!gpu_available()) GTEST_SKIP() << "no CUDA device on this machine";
  const auto cpu = load("cpu", "float32");
  const auto gpu = load("cuda", "float16");
  const std::vector<float> pcm = clip("en-01.wav");
  const Result c = cpu->transcribe(pcm, greedy());
  const Result g = gpu->transcribe(pcm, greedy());
  EXPECT_EQ(g.language, c.language);
  EXPECT_EQ(g.text, c.text);
}

}  // namespace
}  // namespace hark
