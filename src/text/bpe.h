// The building blocks of byte-level BPE, independent of where a vocabulary comes from:
// GPT-2's pre-tokenizer, GPT-2's byte <-> printable-character mapping (the alphabet of HF's
// vocab.json/merges.txt), and the merge loop over one pre-tokenized piece.
//
// The merge loop has two pair orders. tiktoken's: a pair merges when its concatenation is a
// token, lowest rank first (RankMap only). HF's: a pair merges when merges.txt lists it, lowest
// line first (MergeMap). Ties go to the leftmost pair in both. Short pieces use tiktoken's
// rescan-the-array loop; long ones (runs of spaces, CJK without spaces) a heap, so a piece of n
// bytes costs O(n log n) rather than O(n^2). Both give identical results.
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hark::text::bpe {

// The length in bytes of the piece of `text` starting at `pos` under GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \s = White_Space. Bytes that are not valid UTF-8 count as [^\s\p{L}\p{N}] characters.
size_t piece_length(std::string_view text, size_t pos);
// All pieces of text, in order; they concatenate to text.
std::vector<std::string_view> split_gpt2(std::string_view text);

// GPT-2's bytes_to_unicode(): the UTF-8 of the character standing for each byte.
const std::array<std::string, 256>& byte_to_unicode();
// Token bytes -> their mapped string, and back (nullopt for a character outside the alphabet).
std::string map_bytes(std::string_view bytes);
std::optional<std::string> unmap_bytes(std::string_view mapped);

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
// token bytes -> id (= rank for tiktoken vocabularies); looked up by string_view.
using RankMap = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

struct Merge {
  int rank;  // priority: lower merges first
  int id;    // the merged token
};
inline uint64_t pair_key(int left, int right) {
  return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}
// (left id, right id) -> merge, from merges.txt.
using MergeMap = std::unordered_map<uint64_t, Merge>;

// What the merge loop reads: the token of each single byte, and either merges (HF order) or,
// when merges is null, ranks (tiktoken order).
struct Tables {
  const std::array<int, 256>* byte_ids = nullptr;
  const RankMap* ranks = nullptr;
  const MergeMap* merges = nullptr;
};

// Byte-pair encodes one non-empty piece and appends its ids to out. Pieces up to
// kHeapThreshold bytes use the rescanning loop, longer ones the heap.
inline constexpr size_t kHeapThreshold = 128;
void encode_piece(std::string_view piece, const Tables& tables, std::vector<int>& out);
// The two loops, exposed so that tests can check they agree.
void encode_piece_scan(std::string_view piece, const Tables& tables, std::vector<int>& out);
void encode_piece_heap(std::string_view piece, const Tables& tables, std::vector<int>& out);

}  // namespace hark::text::bpe
