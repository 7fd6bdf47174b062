// include/hark/audio.h over the audio layer.
#include "hark/audio.h"

#include "audio/decode.h"

namespace hark {

static_assert(kAudioSampleRate == audio::kSampleRate);

std::vector<float> decode_audio(std::span<const uint8_t> bytes, const std::string& name,
                                int64_t max_samples) {
  return audio::decode_memory(bytes, name, max_samples > 0 ? max_samples : audio::kMaxSamples);
}

std::vector<float> decode_audio_file(const std::string& path, int64_t max_samples) {
  return audio::decode_file(path, max_samples > 0 ? max_samples : audio::kMaxSamples);
}

std::vector<float> decode_pcm16(std::span<const uint8_t> bytes) {
  return audio::decode_pcm16(bytes);
}

}  // namespace hark
