// Parsing of request parameter values (multipart fields, query parameters): booleans, numbers,
// language codes. Each throws ApiError 400 naming the parameter and the accepted values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hark::server {

bool parse_bool(const std::string& param, std::string_view value);
double parse_number(const std::string& param, std::string_view value, double min, double max);
// "auto" or an ISO 639-1 code Whisper knows ("en"); returns it lower-cased.
std::string parse_language(const std::string& param, std::string_view value);
// value must be one of `allowed`.
std::string parse_choice(const std::string& param, std::string_view value,
                         const std::vector<std::string>& allowed);

}  // namespace hark::server
