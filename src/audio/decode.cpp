// Decoding with FFmpeg 5.1. Both entry points read through a custom AVIOContext (a file
// descriptor or a span of memory), so a path is never interpreted as an FFmpeg URL ("http:...",
// "concat:..."), and nested opens are refused: an uploaded playlist (HLS, concat, DASH) must not
// make the demuxer read other local files or the network. Every FFmpeg object is owned by a
// unique_ptr, so an Error thrown anywhere leaks nothing. Corrupt packets are skipped as the ffmpeg
// tool does; only input that yields no samples at all is rejected.
#include "audio/decode.h"

extern "C" {
#ifdef HARK_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#endif
}

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/error.h"

namespace hark::audio {

#ifdef HARK_HAVE_FFMPEG
namespace {

constexpr int kIoBufferSize = 64 * 1024;
// FFmpeg accepts a format guessed with any score above 0 once its probe buffer is full, so random
// bytes can "be" MP3 at score 1 and decode to noise. Real files score far higher (a container
// magic 100, three consistent MP3/ADTS frames 51, a matching extension alone 50).
constexpr int kMinProbeScore = AVPROBE_SCORE_RETRY;
// Reservations from a container's claimed duration stop here; a lying header costs no more.
constexpr int64_t kMaxReserveSamples = int64_t{3600} * kSampleRate;

void silence_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct AvioFreer {
  void operator()(AVIOContext* c) const {
    av_freep(&c->buffer);
    avio_context_free(&c);
  }
};
struct CodecFreer {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFreer {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwrFreer {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using AvioPtr = std::unique_ptr<AVIOContext, AvioFreer>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using SwrPtr = std::unique_ptr<SwrContext, SwrFreer>;

// What the AVIOContext reads from. read() returns bytes read, 0 at the end, or an AVERROR;
// seek() follows AVIOContext's seek callback (whence may be AVSEEK_SIZE).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual int read(uint8_t* buf, int size) = 0;
  virtual int64_t seek(int64_t offset, int whence) = 0;
  virtual bool seekable() const = 0;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  int read(uint8_t* buf, int size) override {
    size_t n = pos_ < bytes_.size() ? std::min(size_t(size), bytes_.size() - pos_) : 0;
    if (n > 0) std::memcpy(buf, bytes_.data() + pos_, n);
    pos_ += n;
    return int(n);
  }
  int64_t seek(int64_t offset, int whence) override {
    if (whence == AVSEEK_SIZE) return int64_t(bytes_.size());
    int64_t base = whence == SEEK_CUR   ? int64_t(pos_)
                   : whence == SEEK_END ? int64_t(bytes_.size())
                                        : 0;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return AVERROR(EINVAL);
    int64_t target = base + offset;
    if (target < 0) return AVERROR(EINVAL);  // past the end is allowed, as lseek allows it
    pos_ = size_t(target);
    return target;
  }
  bool seekable() const override { return true; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// Reads a file descriptor; pipes and FIFOs work too (then FFmpeg sees a non-seekable stream).
class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        throw_error(ErrorKind::kNotFound, "{}: no such file", path);
      }
      throw_error(ErrorKind::kIo, "{}: cannot open ({})", path, std::strerror(err));
    }
    struct stat st {};
    bool known = ::fstat(fd_, &st) == 0;
    if (known && S_ISDIR(st.st_mode)) {
      ::close(fd_);
      throw_error(ErrorKind::kInvalidAudio, "{}: is a directory, not an audio file", path);
    }
    regular_ = known && S_ISREG(st.st_mode);
    size_ = regular_ ? int64_t(st.st_size) : -1;
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  int read(uint8_t* buf, int size) override {
    ssize_t n;
    do {
      n = ::read(fd_, buf, size_t(size));
    } while (n < 0 && errno == EINTR);
    return n < 0 ? AVERROR(errno) : int(n);
  }
  int64_t seek(int64_t offset, int whence) override {
    if (!regular_) return AVERROR(ESPIPE);
    if (whence == AVSEEK_SIZE) return size_;
    off_t r = ::lseek(fd_, off_t(offset), whence);
    return r < 0 ? AVERROR(errno) : int64_t(r);
  }
  bool seekable() const override { return regular_; }
  int64_t size() const { return size_; }  // -1 when not a regular file

 private:
  int fd_ = -1;
  bool regular_ = false;
  int64_t size_ = -1;
};

int read_callback(void* opaque, uint8_t* buf, int size) {
  int n = static_cast<ByteSource*>(opaque)->read(buf, size);
  return n == 0 ? AVERROR_EOF : n;
}

int64_t seek_callback(void* opaque, int64_t offset, int whence) {
  return static_cast<ByteSource*>(opaque)->seek(offset, whence & ~AVSEEK_FORCE);
}

int refuse_nested_open(AVFormatContext*, AVIOContext**, const char*, int, AVDictionary**) {
  return AVERROR(EPERM);
}

// An opened demuxer. Members are destroyed in reverse order: the format context before the
// AVIOContext it reads through.
struct Input {
  AvioPtr avio;
  FormatPtr format;
};

Input open_input(ByteSource& source, const std::string& name) {
  Input in;
  auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferSize));
  if (!buffer) throw_error(ErrorKind::kResourceExhausted, "{}: out of memory", name);
  AVIOContext* avio =
      avio_alloc_context(buffer, kIoBufferSize, 0, &source, read_callback, nullptr, seek_callback);
  if (!avio) {
    av_free(buffer);
    throw_error(ErrorKind::kResourceExhausted, "{}: out of memory", name);
  }
  in.avio.reset(avio);
  avio->seekable = source.seekable() ? AVIO_SEEKABLE_NORMAL : 0;

  AVFormatContext* format = avformat_alloc_context();
  if (!format) throw_error(ErrorKind::kResourceExhausted, "{}: out of memory", name);
  format->pb = avio;
  format->flags |= AVFMT_FLAG_CUSTOM_IO;
  format->io_open = refuse_nested_open;
  AVDictionary* options = nullptr;
  av_dict_set(&options, "protocol_whitelist", "none", 0);
  // On failure avformat_open_input frees `format` (but not our AVIOContext).
  int r = avformat_open_input(&format, name.c_str(), nullptr, &options);
  av_dict_free(&options);
  if (r == AVERROR_INVALIDDATA || r == AVERROR(EINVAL)) {
    throw_error(ErrorKind::kInvalidAudio, "{}: not an audio file (format not recognised)", name);
  }
  if (r < 0) {
    throw_error(ErrorKind::kInvalidAudio, "{}: not an audio file (cannot open: {})", name,
                av_error(r));
  }
  in.format.reset(format);
  if (format->probe_score < kMinProbeScore) {
    throw_error(ErrorKind::kInvalidAudio, "{}: not an audio file (format not recognised)", name);
  }
  // Failure here is not fatal: a truncated file may still decode; later steps judge.
  avformat_find_stream_info(format, nullptr);
  return in;
}

struct AudioStream {
  int index = -1;
  CodecPtr codec;
};

AudioStream open_audio_stream(AVFormatContext* format, const std::string& name) {
  const AVCodec* decoder = nullptr;
  int index = av_find_best_stream(format, AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0);
  if (index == AVERROR_STREAM_NOT_FOUND) {
    throw_error(ErrorKind::kInvalidAudio, "{}: not an audio file (no audio stream found)", name);
  }
  if (index < 0 || !decoder) {
    const AVCodecParameters* par = index >= 0 ? format->streams[index]->codecpar : nullptr;
    throw_error(ErrorKind::kInvalidAudio, "{}: no decoder for its audio codec ({})", name,
                par ? avcodec_get_name(par->codec_id) : av_error(index));
  }
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (int(i) != index) format->streams[i]->discard = AVDISCARD_ALL;
  }
  AudioStream stream;
  stream.index = index;
  stream.codec.reset(avcodec_alloc_context3(decoder));
  if (!stream.codec) throw_error(ErrorKind::kResourceExhausted, "{}: out of memory", name);
  int r = avcodec_parameters_to_context(stream.codec.get(), format->streams[index]->codecpar);
  if (r >= 0) r = avcodec_open2(stream.codec.get(), decoder, nullptr);
  if (r < 0) {
    throw_error(ErrorKind::kInvalidAudio, "{}: cannot open the {} decoder ({})", name,
                decoder->name, av_error(r));
  }
  return stream;
}

// Converts decoded frames to 16 kHz mono float and appends them to `out`. Rebuilds its
// SwrContext whenever the input format changes mid-stream (sample rate, layout, sample format).
class Resampler {
 public:
  Resampler(std::vector<float>& out, const std::string& name, int64_t max_samples)
      : out_(out), name_(name), max_samples_(max_samples) {}
  ~Resampler() { av_channel_layout_uninit(&layout_); }
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  void push(const AVFrame& frame) {
    if (frame.nb_samples <= 0) return;
    AVChannelLayout layout{};
    if (frame.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || frame.ch_layout.nb_channels <= 0) {
      if (frame.ch_layout.nb_channels <= 0) return;
      av_channel_layout_default(&layout, frame.ch_layout.nb_channels);
    } else if (av_channel_layout_copy(&layout, &frame.ch_layout) < 0) {
      throw_error(ErrorKind::kResourceExhausted, "{}: out of memory", name_);
    }
    if (!swr_ || frame.format != format_ || frame.sample_rate != rate_ ||
        av_channel_layout_compare(&layout, &layout_) != 0) {
      flush();
      configure(layout, frame.format, frame.sample_rate);
    }
    av_channel_layout_uninit(&layout);
    convert(const_cast<const uint8_t**>(frame.extended_data), frame.nb_samples);
  }

  // Drains the resampler's delay line; call at the end of the stream.
  void flush() {
    if (swr_) convert(nullptr, 0);
  }

 private:
  void configure(const AVChannelLayout& layout, int format, int rate) {
    swr_.reset();
    av_channel_layout_uninit(&layout_);
    av_channel_layout_copy(&layout_, &layout);
    format_ = format;
    rate_ = rate;
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext* swr = nullptr;
    int r = swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, kSampleRate, &layout_,
                                AVSampleFormat(format), rate, 0, nullptr);
    swr_.reset(swr);
    // Float output is otherwise left un-normalised (stereo -> mono as (L + R) / sqrt(2)); a
    // maximum gain of 1 gives the channel average, as `ffmpeg -ac 1` does for 16-bit output.
    if (r >= 0) r = av_opt_set_double(swr, "rematrix_maxval", 1.0, 0);
    if (r >= 0) r = swr_init(swr);
    if (r < 0 || rate <= 0) {
      swr_.reset();
      throw_error(ErrorKind::kInvalidAudio, "{}: cannot resample its audio ({} Hz, {} channels)",
                  name_, rate, layout.nb_channels);
    }
  }

  // Appends the output for `in` (nullptr: drain). Room for one sample past the cap is enough to
  // tell that the cap is exceeded; swr keeps the rest buffered and it is never allocated here.
  void convert(const uint8_t** in, int in_samples) {
    int room = swr_get_out_samples(swr_.get(), in_samples);
    if (room < 0) throw_error(ErrorKind::kInvalidAudio, "{}: resampling failed", name_);
    size_t old = out_.size();
    room = int(std::min<int64_t>(room, max_samples_ - int64_t(old) + 1));
    out_.resize(old + size_t(room));
    auto* dst = reinterpret_cast<uint8_t*>(out_.data() + old);
    int n = swr_convert(swr_.get(), &dst, room, in, in_samples);
    out_.resize(old + size_t(std::max(n, 0)));
    if (n < 0) throw_error(ErrorKind::kInvalidAudio, "{}: resampling failed", name_);
    if (int64_t(out_.size()) > max_samples_) too_long();
  }

  [[noreturn]] void too_long() const {
    throw_error(ErrorKind::kInvalidAudio, "{}: too long (more than {:.0f} s of audio)", name_,
                double(max_samples_) / kSampleRate);
  }

  std::vector<float>& out_;
  const std::string& name_;
  int64_t max_samples_;
  SwrPtr swr_;
  AVChannelLayout layout_{};
  int format_ = -1;
  int rate_ = 0;
};

// Sends one packet (nullptr: end of stream) and resamples every frame it releases. A packet or
// frame the decoder rejects is skipped.
void decode_packet(AVCodecContext* codec, const AVPacket* packet, AVFrame* frame,
                   Resampler& resampler) {
  if (avcodec_send_packet(codec, packet) < 0 && packet) return;
  while (avcodec_receive_frame(codec, frame) >= 0) {
    resampler.push(*frame);
    av_frame_unref(frame);
  }
}

void reserve_from_duration(const AVFormatContext* format, int64_t max_samples,
                           std::vector<float>& out) {
  if (format->duration <= 0) return;
  int64_t expected = av_rescale(format->duration, kSampleRate, AV_TIME_BASE) + kSampleRate;
  expected = std::min({expected, max_samples + kSampleRate, kMaxReserveSamples});
  if (expected > 0) out.reserve(size_t(expected));
}

std::vector<float> decode_source(ByteSource& source, const std::string& name, int64_t max_samples) {
  max_samples = std::clamp<int64_t>(max_samples, 0, kMaxSamples);
  silence_ffmpeg();
  Input in = open_input(source, name);
  AudioStream stream = open_audio_stream(in.format.get(), name);
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!packet || !frame) throw_error(ErrorKind::kResourceExhausted, "{}: out of memory", name);

  std::vector<float> out;
  reserve_from_duration(in.format.get(), max_samples, out);
  Resampler resampler(out, name, max_samples);
  // A read error ends the stream like EOF does: a truncated file keeps what it decoded.
  while (av_read_frame(in.format.get(), packet.get()) >= 0) {
    if (packet->stream_index == stream.index) {
      decode_packet(stream.codec.get(), packet.get(), frame.get(), resampler);
    }
    av_packet_unref(packet.get());
  }
  decode_packet(stream.codec.get(), nullptr, frame.get(), resampler);
  resampler.flush();
  if (out.empty()) {
    throw_error(ErrorKind::kInvalidAudio, "{}: no audio samples could be decoded", name);
  }
  out.shrink_to_fit();
  return out;
}

}  // namespace

std::vector<float> decode_file(const std::string& path, int64_t max_samples) {
  FileSource source(path);
  if (source.size() == 0) throw_error(ErrorKind::kInvalidAudio, "{}: empty file", path);
  return decode_source(source, path, max_samples);
}

std::vector<float> decode_file(const std::string& path) { return decode_file(path, kMaxSamples); }

std::vector<float> decode_memory(std::span<const uint8_t> bytes, const std::string& name,
                                 int64_t max_samples) {
  if (bytes.empty()) throw_error(ErrorKind::kInvalidAudio, "{}: empty input", name);
  MemorySource source(bytes);
  return decode_source(source, name, max_samples);
}

std::vector<float> decode_memory(std::span<const uint8_t> bytes, const std::string& name) {
  return decode_memory(bytes, name, kMaxSamples);
}

#endif  // HARK_HAVE_FFMPEG

std::vector<float> decode_pcm16(std::span<const uint8_t> bytes) {
  if (bytes.size() % 2 != 0) {
    throw_error(ErrorKind::kInvalidAudio,
                "raw PCM input has an odd number of bytes ({}); expected 16-bit samples",
                bytes.size());
  }
  if (int64_t(bytes.size() / 2) > kMaxSamples) {
    throw_error(ErrorKind::kInvalidAudio, "raw PCM input too long (more than {:.0f} s of audio)",
                double(kMaxSamples) / kSampleRate);
  }
  std::vector<float> out(bytes.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    auto v = int16_t(uint16_t(bytes[2 * i]) | uint16_t(bytes[2 * i + 1]) << 8);
    out[i] = float(v) * (1.0f / 32768.0f);
  }
  return out;
}

}  // namespace hark::audio
