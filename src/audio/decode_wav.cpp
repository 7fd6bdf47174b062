// A WAV reader of our own: what decode_file / decode_memory are in builds without FFmpeg
// (-DHARK_FFMPEG=OFF, for machines without it, like the GPU machine). RIFF WAV only, 16-bit integer
// or 32-bit float PCM at 16 kHz, any channel count (averaged to mono like the FFmpeg path).
// Anything else is Error(kInvalidAudio) or, for a valid WAV at another rate or sample format,
// Error(kUnsupported) naming what the FFmpeg build would do. Compiled (and tested) in every build.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "audio/decode.h"
#include "core/error.h"

namespace hark::audio {
namespace {

uint32_t u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint16_t u16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

}  // namespace

std::vector<float> decode_wav(std::span<const uint8_t> b, const std::string& name,
                              int64_t max_samples) {
  max_samples = std::min(max_samples, kMaxSamples);
  if (b.empty()) throw_error(ErrorKind::kInvalidAudio, "{}: empty input", name);
  HARK_CHECK(b.size() >= 12 && std::memcmp(b.data(), "RIFF", 4) == 0 &&
                 std::memcmp(b.data() + 8, "WAVE", 4) == 0,
             ErrorKind::kInvalidAudio,
             "{}: not a WAV file (this build has no FFmpeg and reads WAV only)", name);
  int format = 0, channels = 0, bits = 0;
  uint32_t rate = 0;
  size_t pos = 12;
  while (pos + 8 <= b.size()) {
    const uint8_t* chunk = b.data() + pos;
    const size_t size = u32(chunk + 4);
    const size_t body = pos + 8, avail = b.size() - body;
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      HARK_CHECK(size >= 16 && avail >= 16, ErrorKind::kInvalidAudio, "{}: truncated WAV header",
                 name);
      format = u16(b.data() + body);
      channels = u16(b.data() + body + 2);
      rate = u32(b.data() + body + 4);
      bits = u16(b.data() + body + 14);
      if (format == 0xFFFE && size >= 26 && avail >= 26) format = u16(b.data() + body + 24);
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      HARK_CHECK(channels > 0, ErrorKind::kInvalidAudio, "{}: WAV data before its format", name);
      HARK_CHECK((format == 1 && bits == 16) || (format == 3 && bits == 32),
                 ErrorKind::kUnsupported,
                 "{}: WAV format {} with {}-bit samples needs the FFmpeg build (16-bit or float "
                 "PCM only here)",
                 name, format, bits);
      HARK_CHECK(rate == kSampleRate, ErrorKind::kUnsupported,
                 "{}: {} Hz audio needs resampling, which needs the FFmpeg build (16000 Hz only "
                 "here)",
                 name, rate);
      const size_t bytes = std::min(size, avail);
      const size_t frame = size_t(channels) * size_t(bits / 8);
      const size_t frames = bytes / frame;
      HARK_CHECK(frames > 0, ErrorKind::kInvalidAudio, "{}: the WAV file holds no samples", name);
      HARK_CHECK(int64_t(frames) <= max_samples, ErrorKind::kInvalidAudio,
                 "{}: audio too long (more than {:.0f} s)", name,
                 double(max_samples) / kSampleRate);
      std::vector<float> out(frames);
      const uint8_t* d = b.data() + body;
      for (size_t i = 0; i < frames; ++i) {
        float sum = 0.0f;
        for (int c = 0; c < channels; ++c) {
          const uint8_t* p = d + i * frame + size_t(c) * size_t(bits / 8);
          if (bits == 16) {
            sum += float(int16_t(u16(p))) * (1.0f / 32768.0f);
          } else {
            const uint32_t v = u32(p);
            float f;
            std::memcpy(&f, &v, 4);
            sum += f;
          }
        }
        out[i] = sum / float(channels);
      }
      return out;
    }
    pos = body + size + (size & 1);
  }
  throw_error(ErrorKind::kInvalidAudio, "{}: the WAV file has no data chunk", name);
}

#ifndef HARK_HAVE_FFMPEG

std::vector<float> decode_file(const std::string& path, int64_t max_samples) {
  std::ifstream f(path, std::ios::binary);
  HARK_CHECK(f.good(), ErrorKind::kNotFound, "{}: no such file", path);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                                   std::istreambuf_iterator<char>());
  return decode_wav(bytes, path, max_samples);
}

std::vector<float> decode_file(const std::string& path) { return decode_file(path, kMaxSamples); }

std::vector<float> decode_memory(std::span<const uint8_t> bytes, const std::string& name,
                                 int64_t max_samples) {
  return decode_wav(bytes, name, max_samples);
}

std::vector<float> decode_memory(std::span<const uint8_t> bytes, const std::string& name) {
  return decode_memory(bytes, name, kMaxSamples);
}

#endif  // HARK_HAVE_FFMPEG

}  // namespace hark::audio
