#include "text/compression.h"

#include <zlib.h>

#include <vector>

#include "core/error.h"

namespace hark::text {

double compression_ratio(std::string_view text) {
  if (text.empty()) return 0.0;
  uLongf out_len = compressBound(static_cast<uLong>(text.size()));
  std::vector<Bytef> out(out_len);
  const int rc = compress2(out.data(), &out_len, reinterpret_cast<const Bytef*>(text.data()),
                           static_cast<uLong>(text.size()), Z_DEFAULT_COMPRESSION);
  HARK_CHECK(rc == Z_OK, ErrorKind::kInternal, "zlib compress2 failed with code {} on {} bytes", rc,
             text.size());
  return static_cast<double>(text.size()) / static_cast<double>(out_len);
}

}  // namespace hark::text
