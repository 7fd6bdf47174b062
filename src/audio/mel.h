// Whisper's log-mel spectrogram, exactly as ../shared/design/ORACLE.md specifies: n_fft 400, hop
// 160, periodic Hann window, reflect-padded centred STFT, power spectrum, last frame dropped, mel
// filterbank (Slaney-normalised, librosa's formula), log10(max(x, 1e-10)), max(x, max(x) - 8),
// (x + 4) / 4. Computed in float32 with kissfft; matches a float64 reference to ~1e-6 relative.
// The maths is the CPU backend's (backends/cpu/mel.h); ops::log_mel runs it, or the CUDA version,
// on tensors of either device (the engine's GPU path).
#pragma once

#include <span>
#include <vector>

#include "core/tensor.h"

namespace hark::audio {

inline constexpr int kNFft = 400;
inline constexpr int kHopLength = 160;
inline constexpr int kChunkSamples = 480000;  // 30 s
inline constexpr int kChunkFrames = 3000;

// The Slaney mel filterbank librosa builds for sr 16000, n_fft 400 (what mel_filters.npz holds):
// [n_mels, 201] float32. Computed, not read from a file. Throws Error(kInvalidArgument) for
// n_mels outside [1, 512].
Tensor mel_filterbank(int n_mels);

// Log-mel of `pcm` (16 kHz mono) with `filters` [n_mels, 201] (any float dtype); result float32
// [n_mels, n_frames] where n_frames = (len(pcm) + pad_samples) / 160 (the STFT's last frame
// dropped). The clamp to max - 8 uses the max over the whole result. `pad_samples` zeros are
// appended before the STFT (OpenAI pads 30 s). Input shorter than the 200-sample reflect padding
// (where torch.stft would refuse it) is reflected back and forth: x[-i] = x[i], x[n-1+i] =
// x[n-1-i], repeated with period 2(n-1).
// Multi-threaded over frames with `threads` threads (0: all cores). Throws Error
// (kInvalidArgument) for filters not shaped [n_mels, 201] or a negative pad.
Tensor log_mel_spectrogram(std::span<const float> pcm, const Tensor& filters, int pad_samples = 0,
                           int threads = 0);

}  // namespace hark::audio
