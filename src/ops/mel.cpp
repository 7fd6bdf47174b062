#include <algorithm>
#include <climits>
#include <cstring>

#include "backends/cpu/mel.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

void log_mel(const Tensor& pcm, const Tensor& filters, int64_t pad_samples, Tensor& out) {
  detail::OpCheck c("log_mel");
  c.tensor("pcm", pcm, 1).tensor("filters", filters, 2).tensor("out", out, 2);
  const int64_t n_mels = filters.dim(0), n_pcm = pcm.dim(0);
  c.require(filters.dim(1) == backends::cpu::kMelBins && n_mels >= 1,
            "filters {} should be [n_mels, {}]", shape_str(filters.shape()),
            backends::cpu::kMelBins);
  c.require(pad_samples >= 0, "pad_samples {} is negative", pad_samples);
  const int64_t n_frames = (n_pcm + pad_samples) / backends::cpu::kMelHop;
  c.require(out.dim(0) == n_mels && out.dim(1) == n_frames,
            "out {} should be [{}, {}] for {} samples + {} padding", shape_str(out.shape()), n_mels,
            n_frames, n_pcm, pad_samples);
  c.require(n_frames <= INT_MAX, "{} frames exceed the 32-bit sizes of the GEMMs", n_frames);
  c.disjoint("out", out, "pcm", pcm);
  c.disjoint("out", out, "filters", filters);
  c.kernel_dtype(DType::kF32);
  if (n_frames == 0) return;
  switch (c.device()) {
    case Device::kCpu:
#ifdef HARK_HAVE_KISSFFT
      backends::cpu::log_mel(pcm.data<float>(), n_pcm, pad_samples, filters.data<float>(),
                             int(n_mels), out.data<float>(), 0);
      return;
#else
      throw_error(ErrorKind::kUnsupported,
                  "log_mel: this build has no CPU log-mel (kissfft was not found)");
#endif
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::log_mel(pcm.data<float>(), n_pcm, pad_samples, filters.data<float>(), n_mels,
                              out.data<float>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void mel_window(const Tensor& mel, int64_t seek, int64_t size, Tensor& window) {
  detail::OpCheck c("mel_window");
  c.tensor("mel", mel, 2);
  c.require(window.defined() && window.ndim() == 2 && window.device() == mel.device(),
            "window {} should be a 2-D tensor on the device of mel", shape_str(window.shape()));
  const int64_t rows = mel.dim(0), total = mel.dim(1), width = window.dim(1);
  c.require(window.dim(0) == rows, "window {} should have the {} rows of mel {}",
            shape_str(window.shape()), rows, shape_str(mel.shape()));
  c.require(seek >= 0 && size >= 0, "seek {} and size {} must be >= 0", seek, size);
  c.disjoint("window", window, "mel", mel);
  c.kernel_dtype(DType::kF32);
  const int64_t n = std::clamp<int64_t>(std::min(size, total - seek), 0, width);
  switch (c.device()) {
    case Device::kCpu: {
      if (window.dtype() != DType::kF32)
        throw_error(ErrorKind::kUnsupported, "mel_window: the CPU writes F32 windows, not {}",
                    dtype_name(window.dtype()));
      const float* src = mel.data<float>();
      float* dst = window.data<float>();
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(src + r * total + seek, n, dst + r * width);
        std::fill(dst + r * width + n, dst + (r + 1) * width, 0.0f);
      }
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::mel_window(window.dtype(), mel.data<float>(), rows, total, seek, n, width,
                                 window.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
