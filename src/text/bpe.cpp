#include "text/bpe.h"

#include <queue>

#include "text/unicode.h"

namespace hark::text::bpe {
namespace {

using unicode::CharClass;

struct CharAt {
  CharClass cls;
  size_t len;
};

CharAt char_at(std::string_view s, size_t pos) {
  const auto d = unicode::decode_utf8(s, pos);
  return {unicode::classify(d.cp), size_t(d.len)};
}

// 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2's pattern): the match length, or 0.
size_t contraction_length(std::string_view s, size_t pos) {
  if (s[pos] != '\'' || pos + 1 >= s.size()) return 0;
  const char c = s[pos + 1];
  if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
  if (pos + 2 >= s.size()) return 0;
  const std::string_view two = s.substr(pos + 1, 2);
  return (two == "re" || two == "ve" || two == "ll") ? 3 : 0;
}

}  // namespace

size_t piece_length(std::string_view s, size_t pos) {
  if (size_t n = contraction_length(s, pos)) return n;
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020, then a run of one class.
  size_t run_start = pos;
  if (s[pos] == ' ' && pos + 1 < s.size() && char_at(s, pos + 1).cls != CharClass::kSpace) {
    run_start = pos + 1;
  }
  const CharAt first = char_at(s, run_start);
  if (first.cls != CharClass::kSpace) {
    size_t end = run_start + first.len;
    while (end < s.size()) {
      const CharAt c = char_at(s, end);
      if (c.cls != first.cls) break;
      end += c.len;
    }
    return end - pos;
  }
  // `\s+(?!\S)|\s+`: a whitespace run; when a non-space follows it, the run gives up its last
  // character (which then prefixes the next word) unless that would leave it empty.
  size_t end = pos;
  size_t last = pos;
  int count = 0;
  while (end < s.size()) {
    const CharAt c = char_at(s, end);
    if (c.cls != CharClass::kSpace) break;
    last = end;
    end += c.len;
    ++count;
  }
  if (end == s.size() || count == 1) return end - pos;
  return last - pos;
}

std::vector<std::string_view> split_gpt2(std::string_view text) {
  std::vector<std::string_view> pieces;
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = piece_length(text, pos);
    pieces.push_back(text.substr(pos, n));
    pos += n;
  }
  return pieces;
}

const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      // Printable Latin-1 stands for itself; the other 68 bytes take 256, 257, ... in byte order.
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const int cp = printable ? b : next_extra++;
      t[size_t(b)] = cp < 0x80 ? std::string(1, char(cp))
                               : std::string{char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
    }
    return t;
  }();
  return table;
}

std::string map_bytes(std::string_view bytes) {
  const auto& table = byte_to_unicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += table[b];
  return out;
}

std::optional<std::string> unmap_bytes(std::string_view mapped) {
  static const std::array<int, 512> inverse = [] {
    std::array<int, 512> inv;
    inv.fill(-1);
    const auto& table = byte_to_unicode();
    for (int b = 0; b < 256; ++b) {
      const auto d = unicode::decode_utf8(table[size_t(b)], 0);
      inv[d.cp] = b;
    }
    return inv;
  }();
  std::string out;
  out.reserve(mapped.size());
  for (size_t pos = 0; pos < mapped.size();) {
    const auto d = unicode::decode_utf8(mapped, pos);
    if (d.cp >= inverse.size() || inverse[d.cp] < 0) return std::nullopt;
    out += char(inverse[d.cp]);
    pos += size_t(d.len);
  }
  return out;
}

namespace {

constexpr int kNoMerge = INT_MAX;

// How the pair (left, right), whose bytes together are `joined`, merges; rank kNoMerge if not.
Merge lookup(const Tables& t, int left, int right, std::string_view joined) {
  if (t.merges) {
    auto it = t.merges->find(pair_key(left, right));
    return it == t.merges->end() ? Merge{kNoMerge, -1} : it->second;
  }
  auto it = t.ranks->find(joined);
  return it == t.ranks->end() ? Merge{kNoMerge, -1} : Merge{it->second, it->second};
}

}  // namespace

void encode_piece_scan(std::string_view piece, const Tables& t, std::vector<int>& out) {
  struct Part {
    uint32_t start;
    int id;
    Merge next;  // how this part merges with the following one
  };
  thread_local std::vector<Part> parts;
  parts.clear();
  for (size_t i = 0; i < piece.size(); ++i) {
    parts.push_back({uint32_t(i), (*t.byte_ids)[static_cast<unsigned char>(piece[i])], {}});
  }
  parts.push_back({uint32_t(piece.size()), -1, {kNoMerge, -1}});
  auto rate = [&](size_t i) {
    if (i + 2 >= parts.size()) {
      parts[i].next = {kNoMerge, -1};
      return;
    }
    const std::string_view joined =
        piece.substr(parts[i].start, parts[i + 2].start - parts[i].start);
    parts[i].next = lookup(t, parts[i].id, parts[i + 1].id, joined);
  };
  for (size_t i = 0; i + 1 < parts.size(); ++i) rate(i);
  while (true) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < parts.size(); ++i) {
      if (parts[i].next.rank < parts[best].next.rank) best = i;
    }
    if (parts[best].next.rank == kNoMerge) break;
    parts[best].id = parts[best].next.id;
    parts.erase(parts.begin() + std::ptrdiff_t(best) + 1);
    if (best > 0) rate(best - 1);
    rate(best);
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) out.push_back(parts[i].id);
}

void encode_piece_heap(std::string_view piece, const Tables& t, std::vector<int>& out) {
  struct Node {
    uint32_t start, end;
    int id;
    int prev, next;  // neighbours in the live list, -1 at the ends
    uint32_t gen;    // bumped whenever the node changes, so stale heap entries are skipped
    bool alive;
  };
  struct Candidate {
    int rank;
    uint32_t start;
    int left, right;
    uint32_t left_gen, right_gen;
    int id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : start > o.start;
    }
  };
  std::vector<Node> nodes(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) {
    nodes[i] = {uint32_t(i),
                uint32_t(i + 1),
                (*t.byte_ids)[static_cast<unsigned char>(piece[i])],
                int(i) - 1,
                i + 1 < piece.size() ? int(i + 1) : -1,
                0,
                true};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto offer = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const Node& a = nodes[size_t(l)];
    const Node& b = nodes[size_t(r)];
    const Merge m = lookup(t, a.id, b.id, piece.substr(a.start, b.end - a.start));
    if (m.rank != kNoMerge) heap.push({m.rank, a.start, l, r, a.gen, b.gen, m.id});
  };
  for (size_t i = 0; i + 1 < piece.size(); ++i) offer(int(i), int(i + 1));
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Node& a = nodes[size_t(c.left)];
    Node& b = nodes[size_t(c.right)];
    if (!a.alive || !b.alive || a.gen != c.left_gen || b.gen != c.right_gen) continue;
    a.id = c.id;
    a.end = b.end;
    a.next = b.next;
    if (b.next >= 0) nodes[size_t(b.next)].prev = c.left;
    b.alive = false;
    ++a.gen;
    offer(a.prev, c.left);
    offer(c.left, a.next);
  }
  for (int i = 0; i >= 0; i = nodes[size_t(i)].next) out.push_back(nodes[size_t(i)].id);
}

void encode_piece(std::string_view piece, const Tables& t, std::vector<int>& out) {
  if (piece.size() == 1) {
    out.push_back((*t.byte_ids)[static_cast<unsigned char>(piece[0])]);
  } else if (piece.size() <= kHeapThreshold) {
    encode_piece_scan(piece, t, out);
  } else {
    encode_piece_heap(piece, t, out);
  }
}

}  // namespace hark::text::bpe
