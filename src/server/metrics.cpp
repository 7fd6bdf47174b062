#include "server/metrics.h"

#include <fmt/format.h>

namespace hark::server {
namespace {

std::string with_label(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return "{" + labels + "," + extra + "}";
}

std::string braces(const std::string& labels) {
  return labels.empty() ? std::string() : "{" + labels + "}";
}

// Label values come from our own route table and enums; escape anyway.
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void Histogram::observe(double seconds) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++counts_[i];
  }
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    out += fmt::format("{}_bucket{} {}\n", name,
                       with_label(labels, fmt::format("le=\"{}\"", kBuckets[i])), counts_[i]);
  }
  out += fmt::format("{}_bucket{} {}\n", name, with_label(labels, "le=\"+Inf\""), count_);
  out += fmt::format("{}_sum{} {}\n", name, braces(labels), sum_);
  out += fmt::format("{}_count{} {}\n", name, braces(labels), count_);
}

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard lock(m_);
  ++requests_[{route, status}];
}

void Metrics::count_error(const std::string& route, const std::string& type) {
  std::lock_guard lock(m_);
  ++errors_[{route, type}];
}

void Metrics::count_cancelled(const std::string& reason) {
  std::lock_guard lock(m_);
  ++cancelled_[reason];
}

void Metrics::count_rejected() {
  std::lock_guard lock(m_);
  ++rejected_;
}

void Metrics::add_audio_seconds(double seconds) {
  std::lock_guard lock(m_);
  audio_seconds_ += seconds;
}

void Metrics::observe_stage(const std::string& stage, double seconds) {
  std::lock_guard lock(m_);
  stages_[stage].observe(seconds);
}

void Metrics::observe_request(const std::string& route, double seconds) {
  std::lock_guard lock(m_);
  request_seconds_[route].observe(seconds);
}

std::string Metrics::render(const std::vector<Gauge>& gauges) const {
  std::lock_guard lock(m_);
  std::string out;
  header(out, "hark_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, n] : requests_) {
    out += fmt::format("hark_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", escape(key.first),
                       key.second, n);
  }
  header(out, "hark_errors_total", "counter", "Error responses, by route and error type.");
  for (const auto& [key, n] : errors_) {
    out += fmt::format("hark_errors_total{{route=\"{}\",type=\"{}\"}} {}\n", escape(key.first),
                       escape(key.second), n);
  }
  header(out, "hark_cancelled_total", "counter",
         "Transcriptions stopped before their end, by reason (client_gone, deadline, shutdown).");
  for (const char* reason : {"client_gone", "deadline", "shutdown"}) {
    const auto it = cancelled_.find(reason);
    out += fmt::format("hark_cancelled_total{{reason=\"{}\"}} {}\n", reason,
                       it == cancelled_.end() ? 0 : it->second);
  }
  header(out, "hark_rejected_total", "counter", "Requests answered 503 because a queue was full.");
  out += fmt::format("hark_rejected_total {}\n", rejected_);
  header(out, "hark_audio_seconds_total", "counter", "Seconds of audio transcribed.");
  out += fmt::format("hark_audio_seconds_total {}\n", audio_seconds_);
  header(out, "hark_stage_seconds", "histogram",
         "Time per request in each stage (decode, mel, encoder, decoder, alignment, total).");
  for (const auto& [stage, h] : stages_) {
    h.render(out, "hark_stage_seconds", fmt::format("stage=\"{}\"", escape(stage)));
  }
  header(out, "hark_request_duration_seconds", "histogram",
         "Time from a request's arrival to its response, by route.");
  for (const auto& [route, h] : request_seconds_) {
    h.render(out, "hark_request_duration_seconds", fmt::format("route=\"{}\"", escape(route)));
  }
  std::string last;
  for (const Gauge& g : gauges) {
    if (g.name != last) {
      out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", g.name, g.help, g.name);
      last = g.name;
    }
    out += fmt::format("{}{} {}\n", g.name, braces(g.labels), g.value);
  }
  return out;
}

}  // namespace hark::server
