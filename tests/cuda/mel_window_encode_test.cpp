// The engine's GPU path feeds WhisperModel::encode a window that ops::mel_window made on the
// device, already in the model's dtype. That input must be taken where it is and give the same
// encoder output as the host window of the same frames (which encode converts and uploads).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/require_gpu.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "support/compare.h"
#include "support/test_env.h"

namespace hark {
namespace {

TEST(CudaMelWindow, DeviceWindowEncodesLikeTheHostWindow) {
  HARK_REQUIRE_GPU();
  const model::Checkpoint ckpt =
      model::load_checkpoint(testing::test_data("models/tiny-v3-random"));
  const int64_t n_mels = ckpt.config.n_mels, frames = 2 * int64_t(ckpt.config.n_audio_ctx);
  // A log-mel-like input longer than one window; the window starts inside it and runs past its
  // end, so the tail is zero-padded.
  const int64_t total = frames + 700, seek = 1200, size = frames;
  Tensor mel = Tensor::zeros(DType::kF32, {n_mels, total});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.5f, 1.5f);
  for (int64_t i = 0; i < mel.numel(); ++i) mel.data<float>()[i] = u(rng);
  const Tensor mel_device = mel.to(Device::kCuda);

  for (const DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const model::WhisperModel m(ckpt, {Device::kCuda, dtype});
    Tensor host_window = Tensor::zeros(DType::kF32, {n_mels, frames});
    ops::mel_window(mel, seek, size, host_window);
    Tensor device_window = Tensor::empty_on(Device::kCuda, dtype, {n_mels, frames});
    ops::mel_window(mel_device, seek, size, device_window);
    const Tensor want = m.encode(host_window).to(Device::kCpu).to_f32();
    const Tensor got = m.encode(device_window).to(Device::kCpu).to_f32();
    // The same values reach the same kernels (host rounding to the dtype and the kernel's are
    // both round-to-nearest-even), so the outputs agree to the last bit in practice.
    EXPECT_LE(testing::rel_error(got, want), 1e-6);
  }
}

}  // namespace
}  // namespace hark
