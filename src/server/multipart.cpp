// Design: one pass over the body with string_view::find for the delimiter "\r\n--" + boundary;
// part headers are parsed with a small tokenizer for `name=value` / `name="quoted"` parameters.
// The first delimiter may appear at the very start of the body (no leading CRLF), as RFC 2046
// allows.
#include "server/multipart.h"

#include <algorithm>
#include <cctype>

#include "server/input_check.h"

namespace hark::server {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// Reads a quoted-string starting at s[i] == '"'; advances i past the closing quote.
std::string read_quoted(std::string_view s, size_t& i) {
  std::string out;
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out += s[++i];
    } else if (s[i] == '"') {
      ++i;
      return out;
    } else {
      out += s[i];
    }
  }
  invalid_input("malformed header parameter: unterminated quote");
}

struct Header {
  std::string name;  // lower case
  std::string value;
};

// "Name: value" lines of one part, separated by CRLF.
std::vector<Header> parse_part_headers(std::string_view block) {
  std::vector<Header> out;
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    if (eol == std::string_view::npos) eol = block.size();
    const std::string_view line = block.substr(0, eol);
    block.remove_prefix(std::min(block.size(), eol + 2));
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    HARK_REQUIRE_INPUT(colon != std::string_view::npos && colon > 0,
                       "malformed multipart body: a part header line has no ':'");
    out.push_back({lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
  }
  return out;
}

FormPart make_part(const std::vector<Header>& headers, std::string_view data) {
  FormPart part;
  part.data = data;
  bool has_disposition = false;
  for (const Header& h : headers) {
    if (h.name == "content-disposition") {
      HARK_REQUIRE_INPUT(
          media_type(h.value) == "form-data",
          "malformed multipart body: Content-Disposition is \"{}\", expected form-data",
          h.value.substr(0, 64));
      has_disposition = true;
      part.name = header_param(h.value, "name").value_or("");
      part.filename = header_param(h.value, "filename");
    } else if (h.name == "content-type") {
      part.content_type = h.value;
    }
  }
  HARK_REQUIRE_INPUT(has_disposition,
                     "malformed multipart body: a part has no Content-Disposition header");
  HARK_REQUIRE_INPUT(!part.name.empty(), "malformed multipart body: a part has no name");
  return part;
}

}  // namespace

std::string media_type(std::string_view content_type) {
  return lower(trim(content_type.substr(0, content_type.find(';'))));
}

std::optional<std::string> header_param(std::string_view header, std::string_view name) {
  size_t i = header.find(';');
  while (i != std::string_view::npos && i < header.size()) {
    ++i;  // past ';'
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t')) ++i;
    const size_t eq = header.find('=', i);
    const size_t semi = header.find(';', i);
    if (eq == std::string_view::npos || (semi != std::string_view::npos && semi < eq)) {
      i = semi;  // a parameter without a value
      continue;
    }
    const std::string_view key = trim(header.substr(i, eq - i));
    size_t j = eq + 1;
    while (j < header.size() && (header[j] == ' ' || header[j] == '\t')) ++j;
    std::string value;
    if (j < header.size() && header[j] == '"') {
      value = read_quoted(header, j);
      i = header.find(';', j);
    } else {
      const size_t end = header.find(';', j);
      value = std::string(trim(header.substr(j, end == std::string_view::npos ? end : end - j)));
      i = end;
    }
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

std::vector<FormPart> parse_multipart(std::string_view body, std::string_view content_type,
                                      const MultipartLimits& limits) {
  HARK_REQUIRE_INPUT(media_type(content_type) == "multipart/form-data",
                     "expected a multipart/form-data body, got Content-Type \"{}\"",
                     std::string(content_type.substr(0, 100)));
  const std::optional<std::string> boundary = header_param(content_type, "boundary");
  HARK_REQUIRE_INPUT(
      boundary && !boundary->empty() && boundary->size() <= 200,
      "multipart/form-data without a valid boundary parameter (1 to 200 characters)");
  const std::string delimiter = "\r\n--" + *boundary;
  // The first delimiter may start the body without the CRLF in front of it.
  size_t pos;
  if (body.substr(0, delimiter.size() - 2) == std::string_view(delimiter).substr(2)) {
    pos = delimiter.size() - 2;
  } else {
    const size_t first = body.find(delimiter);
    HARK_REQUIRE_INPUT(first != std::string_view::npos,
                       "malformed multipart body: the boundary never occurs");
    pos = first + delimiter.size();
  }
  std::vector<FormPart> parts;
  for (;;) {
    // After a delimiter: "--" closes the body; otherwise optional blanks and a CRLF.
    if (body.substr(pos, 2) == "--") return parts;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    HARK_REQUIRE_INPUT(body.substr(pos, 2) == "\r\n",
                       "malformed multipart body: a boundary line does not end with CRLF");
    pos += 2;
    HARK_REQUIRE_INPUT(parts.size() < limits.max_parts, "multipart body has more than {} parts",
                       limits.max_parts);
    size_t header_end;
    if (body.substr(pos, 2) == "\r\n") {
      header_end = pos;  // a part without headers
    } else {
      header_end = body.find("\r\n\r\n", pos);
      HARK_REQUIRE_INPUT(header_end != std::string_view::npos,
                         "malformed multipart body: a part's headers never end");
    }
    HARK_REQUIRE_INPUT(header_end - pos <= limits.max_part_header_bytes,
                       "malformed multipart body: part headers longer than {} bytes",
                       limits.max_part_header_bytes);
    const auto headers = parse_part_headers(body.substr(pos, header_end - pos));
    const size_t data_begin = header_end + (header_end == pos ? 2 : 4);
    const size_t next = body.find(delimiter, data_begin);
    HARK_REQUIRE_INPUT(
        next != std::string_view::npos,
        "malformed multipart body: the closing boundary is missing (truncated upload?)");
    parts.push_back(make_part(headers, body.substr(data_begin, next - data_begin)));
    pos = next + delimiter.size();
  }
}

}  // namespace hark::server
