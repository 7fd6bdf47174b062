// Prometheus metrics of one server process: counters and histograms kept here, gauges read at
// scrape time from whoever owns them (the inference pool, the GPU monitor). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace hark::server {

class Histogram {
 public:
  static constexpr std::array<double, 15> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                      2.5,   5,    10,    30,   60,  120,  300};
  void observe(double seconds);
  // "name_bucket{labels,le=...} n" lines plus _sum and _count.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<uint64_t, kBuckets.size()> counts_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct Gauge {
  std::string name;    // hark_queue_depth
  std::string labels;  // device="cpu" (no braces), may be empty
  double value = 0;
  std::string help;
};

class Metrics {
 public:
  void count_request(const std::string& route, int status);
  void count_error(const std::string& route, const std::string& type);
  void count_cancelled(const std::string& reason);
  void count_rejected();  // a full queue answered 503
  void add_audio_seconds(double seconds);
  void observe_stage(const std::string& stage, double seconds);  // decode, mel, encoder, ...
  void observe_request(const std::string& route, double seconds);

  // The exposition text (version 0.0.4) with the given gauges appended.
  std::string render(const std::vector<Gauge>& gauges) const;

 private:
  mutable std::mutex m_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, uint64_t> errors_;
  std::map<std::string, uint64_t> cancelled_;
  uint64_t rejected_ = 0;
  double audio_seconds_ = 0;
  std::map<std::string, Histogram> stages_;
  std::map<std::string, Histogram> request_seconds_;
};

}  // namespace hark::server
