#include "support/mel_reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numbers>

#include "core/error.h"

namespace hark::testing {
namespace {

constexpr int kNFft = 400, kHop = 160, kBins = kNFft / 2 + 1;

uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

}  // namespace

std::vector<double> mel_padded_signal(const std::vector<float>& pcm, int64_t pad) {
  std::vector<double> x(pcm.begin(), pcm.end());
  x.resize(x.size() + size_t(pad), 0.0);
  const auto n = int64_t(x.size());
  std::vector<double> padded;
  if (n == 0) return padded;
  for (int64_t j = -kNFft / 2; j < n + kNFft / 2; ++j) {
    int64_t i = j;
    while (n > 1 && (i < 0 || i >= n)) i = i < 0 ? -i : 2 * (n - 1) - i;
    padded.push_back(n > 1 ? x[size_t(i)] : x[0]);
  }
  return padded;
}

std::vector<std::vector<double>> reference_log10_mel(const std::vector<double>& padded,
                                                     int64_t frames, const Tensor& filters) {
  const int n_mels = int(filters.dim(0));
  std::vector<double> cos_t(kNFft), sin_t(kNFft), window(kNFft);
  for (int n = 0; n < kNFft; ++n) {
    const double phase = 2.0 * std::numbers::pi * n / kNFft;
    cos_t[size_t(n)] = std::cos(phase);
    sin_t[size_t(n)] = std::sin(phase);
    window[size_t(n)] = 0.5 - 0.5 * std::cos(phase);
  }
  std::vector<std::vector<double>> out(static_cast<size_t>(n_mels),
                                       std::vector<double>(static_cast<size_t>(frames)));
  std::vector<double> frame(kNFft), power(kBins);
  for (int64_t f = 0; f < frames; ++f) {
    for (int n = 0; n < kNFft; ++n)
      frame[size_t(n)] = padded[size_t(f * kHop + n)] * window[size_t(n)];
    for (int k = 0; k < kBins; ++k) {
      double re = 0, im = 0;
      for (int n = 0; n < kNFft; ++n) {
        const auto idx = size_t((k * n) % kNFft);
        re += frame[size_t(n)] * cos_t[idx];
        im -= frame[size_t(n)] * sin_t[idx];
      }
      power[size_t(k)] = re * re + im * im;
    }
    for (int m = 0; m < n_mels; ++m) {
      double sum = 0;
      for (int k = 0; k < kBins; ++k)
        sum += double(filters.data<float>()[m * kBins + k]) * power[size_t(k)];
      out[size_t(m)][size_t(f)] = std::log10(std::max(sum, 1e-10));
    }
  }
  return out;
}

std::vector<double> reference_log_mel(const std::vector<float>& pcm, const Tensor& filters,
                                      int64_t pad) {
  const int64_t frames = (int64_t(pcm.size()) + pad) / kHop;
  if (frames == 0) return {};
  const auto log10_mel = reference_log10_mel(mel_padded_signal(pcm, pad), frames, filters);
  double max = -1e300;
  for (const auto& row : log10_mel)
    for (const double v : row) max = std::max(max, v);
  std::vector<double> out;
  out.reserve(log10_mel.size() * size_t(frames));
  for (const auto& row : log10_mel)
    for (const double v : row) out.push_back((std::max(v, max - 8.0) + 4.0) / 4.0);
  return out;
}

std::vector<float> read_wav_16k_mono(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  HARK_CHECK(f.good(), ErrorKind::kInvalidArgument, "{}: cannot open", path);
  const std::vector<uint8_t> b{std::istreambuf_iterator<char>(f), {}};
  HARK_CHECK(b.size() >= 12 && std::memcmp(b.data(), "RIFF", 4) == 0 &&
                 std::memcmp(b.data() + 8, "WAVE", 4) == 0,
             ErrorKind::kInvalidArgument, "{}: not a RIFF/WAVE file", path);
  bool format_ok = false;
  for (size_t pos = 12; pos + 8 <= b.size();) {
    const uint32_t size = le32(b.data() + pos + 4);
    const uint8_t* body = b.data() + pos + 8;
    HARK_CHECK(pos + 8 + size <= b.size(), ErrorKind::kInvalidArgument, "{}: truncated chunk",
               path);
    if (std::memcmp(b.data() + pos, "fmt ", 4) == 0 && size >= 16) {
      format_ok = le16(body) == 1 && le16(body + 2) == 1 && le32(body + 4) == 16000 &&
                  le16(body + 14) == 16;
      HARK_CHECK(format_ok, ErrorKind::kInvalidArgument, "{}: not 16-bit PCM 16 kHz mono", path);
    } else if (std::memcmp(b.data() + pos, "data", 4) == 0) {
      HARK_CHECK(format_ok, ErrorKind::kInvalidArgument, "{}: data before a PCM fmt chunk", path);
      std::vector<float> pcm(size / 2);
      for (size_t i = 0; i < pcm.size(); ++i)
        pcm[i] = float(int16_t(le16(body + 2 * i))) / 32768.0f;
      return pcm;
    }
    pos += 8 + size + (size & 1);
  }
  throw_error(ErrorKind::kInvalidArgument, "{}: no data chunk", path);
}

}  // namespace hark::testing
