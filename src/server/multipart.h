// multipart/form-data (RFC 7578) parsing for uploads. The parser never copies a part's content:
// each FormPart views the request body, which must outlive it. It accepts what real clients
// send (curl, browsers, Python requests, the openai npm client: CRLF line breaks, quoted or bare
// parameters, a preamble and an epilogue) and rejects everything else with Error(kInvalidArgument)
// naming the problem: no boundary, a missing closing delimiter, a part without a name, oversized
// part headers, too many parts.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hark::server {

struct FormPart {
  std::string name;
  std::optional<std::string> filename;  // present for file parts (may be empty)
  std::string content_type;             // "" when the part has none
  std::string_view data;
};

struct MultipartLimits {
  size_t max_parts = 64;
  size_t max_part_header_bytes = 8 * 1024;
};

// The value of a header's parameter, e.g. param("multipart/form-data; boundary=x", "boundary").
// Parameter names compare case-insensitively; quoted values are unescaped.
std::optional<std::string> header_param(std::string_view header, std::string_view name);
// The media type of a Content-Type value, lower-cased, without parameters.
std::string media_type(std::string_view content_type);

// The parts of `body`, given the request's Content-Type header value.
std::vector<FormPart> parse_multipart(std::string_view body, std::string_view content_type,
                                      const MultipartLimits& limits = {});

}  // namespace hark::server
