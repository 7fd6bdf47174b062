// Audio input: any container/codec FFmpeg can read, resampled to 16 kHz mono float32 in [-1, 1];
// and raw little-endian 16-bit PCM (already 16 kHz mono), as read from stdin with `-`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hark::audio {

inline constexpr int kSampleRate = 16000;

// Throws Error(kNotFound) for a missing file, Error(kInvalidAudio) for a file that holds no
// decodable audio stream or no samples ("x.txt: not an audio file (no audio stream found)").
std::vector<float> decode_file(const std::string& path);
// The same from bytes in memory (an upload). `name` is only used in messages.
std::vector<float> decode_memory(std::span<const uint8_t> bytes, const std::string& name);
// s16le mono 16 kHz samples -> float. An odd trailing byte is an error (kInvalidAudio).
std::vector<float> decode_pcm16(std::span<const uint8_t> bytes);

}  // namespace hark::audio
