// Whisper's log-mel on the CPU (kissfft), raw pointers: the kernel behind ops::log_mel and
// audio::log_mel_spectrogram. Exists only in builds that found kissfft (HARK_HAVE_KISSFFT); the
// engine-only build may lack it.
#pragma once

#include <cstdint>

namespace hark::backends::cpu {

// Constants of Whisper's STFT (../shared/design/ORACLE.md).
inline constexpr int kMelNFft = 400;
inline constexpr int kMelHop = 160;
inline constexpr int kMelBins = kMelNFft / 2 + 1;

// out [n_mels, n_frames] = Whisper's log-mel of pcm[0, n_pcm) followed by `pad` zeros, with
// n_frames = (n_pcm + pad) / 160 and filters [n_mels, 201] fp32: reflect-padded centred STFT
// (periodic Hann, n_fft 400, hop 160; input shorter than the reflect padding is reflected back and
// forth over the padded length), power, the last frame dropped, filterbank, log10(max(x, 1e-10)),
// max(x, max(all) - 8), (x + 4) / 4. `threads` OpenMP threads (0: all). Nothing for 0 frames.
void log_mel(const float* pcm, int64_t n_pcm, int64_t pad, const float* filters, int n_mels,
             float* out, int threads);

}  // namespace hark::backends::cpu
