// Whisper's log-mel in double precision, written independently of src/ (explicit padding and a
// naive DFT per frame), for the CPU and CUDA log-mel tests; and a 16-bit PCM WAV reader so that
// the op tests read real speech in builds without the audio layer (the engine-only build).
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace hark::testing {

// The signal the STFT frames: x = pcm followed by `pad` zeros, extended by 200 samples on each
// side by reflection over len(x) (x[-i] = x[i], x[n-1+i] = x[n-1-i], repeated with period
// 2 (n - 1) when x is shorter than the extension; torch.stft's reflect for longer x).
std::vector<double> mel_padded_signal(const std::vector<float>& pcm, int64_t pad);

// log10(max(mel power, 1e-10)) [n_mels][frames] of the first `frames` frames of `padded`
// (mel_padded_signal's output), filters [n_mels, 201] fp32 on the CPU.
std::vector<std::vector<double>> reference_log10_mel(const std::vector<double>& padded,
                                                     int64_t frames, const Tensor& filters);

// The whole log-mel, row-major [n_mels, (len(pcm) + pad) / 160]: max(x, max - 8), (x + 4) / 4.
std::vector<double> reference_log_mel(const std::vector<float>& pcm, const Tensor& filters,
                                      int64_t pad);

// The samples of a RIFF/WAVE file of 16-bit PCM, 16 kHz mono, scaled to [-1, 1) (x / 32768).
// Anything else throws hark::Error(kInvalidArgument) naming the file.
std::vector<float> read_wav_16k_mono(const std::string& path);

}  // namespace hark::testing
