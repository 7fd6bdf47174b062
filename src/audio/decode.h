// Audio input: any container/codec FFmpeg can read, resampled to 16 kHz mono float32 in [-1, 1];
// and raw little-endian 16-bit PCM (already 16 kHz mono), as read from stdin with `-`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hark::audio {

inline constexpr int kSampleRate = 16000;
// The longest input accepted (24 h, 5.5 GB of floats); longer input is Error(kInvalidAudio).
inline constexpr int64_t kMaxSamples = int64_t{24} * 3600 * kSampleRate;

// Throws Error(kNotFound) for a missing file, Error(kInvalidAudio) for a file that holds no
// decodable audio stream or no samples ("x.txt: not an audio file (no audio stream found)").
// Multi-channel input is down-mixed to an average of the channels (what `ffmpeg -ac 1` does for
// 16-bit output, so a stereo file with equal channels decodes like its mono original).
std::vector<float> decode_file(const std::string& path);
// The same from bytes in memory (an upload). `name` is only used in messages.
std::vector<float> decode_memory(std::span<const uint8_t> bytes, const std::string& name);
// The same with a lower cap on the decoded length (a server's limit per request): decoding stops
// with Error(kInvalidAudio, "... too long ...") as soon as more than `max_samples` samples come
// out, without decoding the rest. `max_samples` is clamped to kMaxSamples.
std::vector<float> decode_file(const std::string& path, int64_t max_samples);
std::vector<float> decode_memory(std::span<const uint8_t> bytes, const std::string& name,
                                 int64_t max_samples);
// Our own WAV reader (16 kHz, 16-bit or float PCM, channels averaged): decode_file/decode_memory in
// builds without FFmpeg. Other rates or sample formats are Error(kUnsupported).
std::vector<float> decode_wav(std::span<const uint8_t> bytes, const std::string& name,
                              int64_t max_samples = kMaxSamples);
// s16le mono 16 kHz samples -> float (x / 32768). An odd trailing byte is an error
// (kInvalidAudio); no bytes give no samples.
std::vector<float> decode_pcm16(std::span<const uint8_t> bytes);

}  // namespace hark::audio
