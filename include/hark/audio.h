// Audio input for apps and the server: any container/codec FFmpeg can read, resampled to 16 kHz
// mono float PCM in [-1, 1] (what Engine::transcribe takes), or raw s16le mono 16 kHz PCM.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hark {

inline constexpr int kAudioSampleRate = 16000;

// Decodes an upload held in memory. `name` is only used in messages. Decoding stops with
// Error(kInvalidAudio, "... too long ...") once more than `max_samples` samples come out
// (0: the library's own limit of 24 h). Throws Error(kInvalidAudio) for bytes that hold no
// decodable audio or no samples.
std::vector<float> decode_audio(std::span<const uint8_t> bytes, const std::string& name,
                                int64_t max_samples = 0);
// The same for a file on disk; Error(kNotFound) when it does not exist.
std::vector<float> decode_audio_file(const std::string& path, int64_t max_samples = 0);
// s16le mono 16 kHz -> float (x / 32768); an odd trailing byte is Error(kInvalidAudio).
std::vector<float> decode_pcm16(std::span<const uint8_t> bytes);

}  // namespace hark
