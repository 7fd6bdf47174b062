#include "decoding/options.h"

#include <cmath>

#include "core/error.h"

namespace hark::decoding {

void DecodingOptions::validate() const {
  constexpr auto kBad = ErrorKind::kInvalidArgument;
  HARK_CHECK(std::isfinite(temperature) && temperature >= 0, kBad,
             "temperature must be a finite value >= 0, got {}", temperature);
  HARK_CHECK(sample_len >= 0, kBad, "sample_len must be >= 0 (0: the default), got {}", sample_len);
  HARK_CHECK(!(beam_size && best_of), kBad, "beam_size and best_of cannot be given together");
  HARK_CHECK(!(temperature == 0 && best_of), kBad,
             "best_of needs temperature > 0 (greedy decoding at temperature 0 has one outcome)");
  HARK_CHECK(!(temperature > 0 && beam_size), kBad,
             "beam_size needs temperature 0 (beam search does not sample); got temperature {}",
             temperature);
  HARK_CHECK(!(patience && !beam_size), kBad, "patience requires beam_size to be given");
  HARK_CHECK(!best_of || (*best_of >= 1 && *best_of <= kMaxCandidates), kBad,
             "best_of must be between 1 and {}, got {}", kMaxCandidates, best_of.value_or(0));
  HARK_CHECK(!beam_size || (*beam_size >= 1 && *beam_size <= kMaxCandidates), kBad,
             "beam_size must be between 1 and {}, got {}", kMaxCandidates, beam_size.value_or(0));
  if (patience) {
    HARK_CHECK(std::isfinite(*patience) && *patience > 0, kBad,
               "patience must be a finite value > 0, got {}", *patience);
    HARK_CHECK(std::nearbyint(*beam_size * *patience) >= 1, kBad,
               "beam_size {} with patience {} collects no candidates (round(beam_size * "
               "patience) must be >= 1)",
               *beam_size, *patience);
  }
  HARK_CHECK(!length_penalty || (*length_penalty >= 0 && *length_penalty <= 1), kBad,
             "length_penalty (alpha) must be between 0 and 1, got {}", length_penalty.value_or(0));
}

}  // namespace hark::decoding
