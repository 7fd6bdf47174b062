// The zip reader walks the central directory (authoritative sizes and offsets, unlike the local
// headers numpy writes with zip64 placeholders), then inflates each member with zlib's raw
// inflate.
#include "support/npz.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace hark::testing {
namespace {

constexpr uint32_t kEndOfCentralDir = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDir = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kMax32 = 0xffffffffu;

// Bounds-checked little-endian reads from a byte buffer.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, std::string what) : b_(bytes), what_(std::move(what)) {}
  uint64_t le(size_t pos, int width) const {
    need(pos, size_t(width));
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = v << 8 | b_[pos + size_t(i)];
    return v;
  }
  std::span<const uint8_t> bytes(size_t pos, size_t n) const {
    need(pos, n);
    return b_.subspan(pos, n);
  }
  size_t size() const { return b_.size(); }
  const std::string& what() const { return what_; }

 private:
  void need(size_t pos, size_t n) const {
    if (pos > b_.size() || n > b_.size() - pos) {
      throw_error(ErrorKind::kInvalidArgument, "{}: truncated zip (offset {})", what_, pos);
    }
  }
  std::span<const uint8_t> b_;
  std::string what_;
};

struct Member {
  std::string name;
  uint16_t method = 0;
  uint64_t compressed = 0, uncompressed = 0, local_offset = 0;
};

struct Directory {
  uint64_t count = 0, offset = 0;
};

Directory find_directory(const Reader& r) {
  if (r.size() < 22) throw_error(ErrorKind::kInvalidArgument, "{}: not a zip file", r.what());
  size_t pos = r.size() - 22;
  size_t stop = r.size() >= 22 + 65535 ? r.size() - 22 - 65535 : 0;
  while (r.le(pos, 4) != kEndOfCentralDir) {
    if (pos == stop) throw_error(ErrorKind::kInvalidArgument, "{}: not a zip file", r.what());
    --pos;
  }
  Directory d{r.le(pos + 10, 2), r.le(pos + 16, 4)};
  if ((d.count == 0xffff || d.offset == kMax32) && pos >= 20 &&
      r.le(pos - 20, 4) == kZip64Locator) {
    size_t z = size_t(r.le(pos - 20 + 8, 8));
    if (r.le(z, 4) != kZip64EndOfCentralDir) {
      throw_error(ErrorKind::kInvalidArgument, "{}: bad zip64 end record", r.what());
    }
    d = {r.le(z + 32, 8), r.le(z + 48, 8)};
  }
  return d;
}

// Replaces the 32-bit fields saturated at 0xffffffff with their zip64 extra-field values.
void apply_zip64_extra(const Reader& r, size_t pos, size_t len, Member& m) {
  for (size_t end = pos + len; pos + 4 <= end;) {
    auto id = uint16_t(r.le(pos, 2));
    size_t size = r.le(pos + 2, 2);
    if (id == kZip64ExtraId) {
      size_t p = pos + 4;
      for (uint64_t* field : {&m.uncompressed, &m.compressed, &m.local_offset}) {
        if (*field == kMax32 && p + 8 <= pos + 4 + size) {
          *field = r.le(p, 8);
          p += 8;
        }
      }
    }
    pos += 4 + size;
  }
}

std::vector<Member> list_members(const Reader& r) {
  Directory d = find_directory(r);
  std::vector<Member> members;
  size_t pos = size_t(d.offset);
  for (uint64_t i = 0; i < d.count; ++i) {
    if (r.le(pos, 4) != kCentralHeader) {
      throw_error(ErrorKind::kInvalidArgument, "{}: bad central directory entry", r.what());
    }
    Member m;
    m.method = uint16_t(r.le(pos + 10, 2));
    m.compressed = r.le(pos + 20, 4);
    m.uncompressed = r.le(pos + 24, 4);
    size_t name_len = r.le(pos + 28, 2), extra_len = r.le(pos + 30, 2);
    size_t comment_len = r.le(pos + 32, 2);
    m.local_offset = r.le(pos + 42, 4);
    auto name = r.bytes(pos + 46, name_len);
    m.name.assign(name.begin(), name.end());
    apply_zip64_extra(r, pos + 46 + name_len, extra_len, m);
    members.push_back(std::move(m));
    pos += 46 + name_len + extra_len + comment_len;
  }
  return members;
}

std::vector<uint8_t> inflate_raw(std::span<const uint8_t> in, size_t out_size,
                                 const std::string& what) {
  std::vector<uint8_t> out(out_size);
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
    throw_error(ErrorKind::kInternal, "{}: inflateInit2 failed", what);
  }
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  int rc = inflate(&z, Z_FINISH);
  size_t produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != out_size) {
    throw_error(ErrorKind::kInvalidArgument, "{}: corrupt deflate data", what);
  }
  return out;
}

std::vector<uint8_t> extract(const Reader& r, const Member& m) {
  size_t pos = size_t(m.local_offset);
  if (r.le(pos, 4) != kLocalHeader) {
    throw_error(ErrorKind::kInvalidArgument, "{}: bad local header for {}", r.what(), m.name);
  }
  size_t data = pos + 30 + r.le(pos + 26, 2) + r.le(pos + 28, 2);
  auto raw = r.bytes(data, size_t(m.compressed));
  std::string what = r.what() + ":" + m.name;
  if (m.method == 0) return std::vector<uint8_t>(raw.begin(), raw.end());
  if (m.method == 8) return inflate_raw(raw, size_t(m.uncompressed), what);
  throw_error(ErrorKind::kInvalidArgument, "{}: unsupported zip method {}", what, m.method);
}

// The value after `'key':` in a .npy header dict, up to (not including) `stop`.
std::string header_field(const std::string& header, const std::string& key, char stop,
                         const std::string& what) {
  size_t k = header.find("'" + key + "'");
  size_t colon = k == std::string::npos ? k : header.find(':', k);
  size_t end = colon == std::string::npos ? colon : header.find(stop, colon + 1);
  if (end == std::string::npos) {
    throw_error(ErrorKind::kInvalidArgument, "{}: npy header lacks '{}'", what, key);
  }
  return header.substr(colon + 1, end - colon - 1);
}

size_t dtype_bytes(const std::string& dtype, const std::string& what) {
  if (dtype.size() < 3 || (dtype[0] != '<' && dtype[0] != '|')) {
    throw_error(ErrorKind::kInvalidArgument, "{}: unsupported dtype '{}'", what, dtype);
  }
  return size_t(std::stoi(dtype.substr(2)));
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

NpyArray parse_npy(std::span<const uint8_t> bytes, const std::string& what) {
  Reader r(bytes, what);
  static constexpr uint8_t kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw_error(ErrorKind::kInvalidArgument, "{}: not a .npy file", what);
  }
  int major = bytes[6];
  size_t len_width = major == 1 ? 2 : 4;
  size_t header_len = r.le(8, int(len_width));
  auto h = r.bytes(8 + len_width, header_len);
  std::string header(h.begin(), h.end());

  NpyArray a;
  std::string descr = header_field(header, "descr", ',', what);
  size_t q1 = descr.find('\''), q2 = descr.rfind('\'');
  if (q1 == std::string::npos || q2 <= q1) {
    throw_error(ErrorKind::kInvalidArgument, "{}: bad descr {}", what, descr);
  }
  a.dtype = descr.substr(q1 + 1, q2 - q1 - 1);
  if (header_field(header, "fortran_order", ',', what).find("True") != std::string::npos) {
    throw_error(ErrorKind::kInvalidArgument, "{}: Fortran-order arrays are not supported", what);
  }
  std::string shape = header_field(header, "shape", ')', what);
  for (size_t p = shape.find_first_of("0123456789"); p != std::string::npos;
       p = shape.find_first_of("0123456789", p)) {
    size_t used = 0;
    a.shape.push_back(std::stoll(shape.substr(p), &used));
    p += used;
  }
  size_t want = size_t(a.numel()) * dtype_bytes(a.dtype, what);
  auto data = r.bytes(8 + len_width + header_len, want);
  a.data.assign(data.begin(), data.end());
  return a;
}

std::map<std::string, NpyArray> read_npz(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(ErrorKind::kNotFound, "{}: cannot open", path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Reader r(bytes, path);
  std::map<std::string, NpyArray> arrays;
  for (const Member& m : list_members(r)) {
    std::string key = m.name;
    if (key.size() > 4 && key.ends_with(".npy")) key.resize(key.size() - 4);
    arrays[key] = parse_npy(extract(r, m), path + ":" + m.name);
  }
  return arrays;
}

Tensor to_tensor(const NpyArray& array) {
  static const std::map<std::string, DType> kTypes = {{"<f4", DType::kF32},
                                                      {"<f2", DType::kF16},
                                                      {"<i4", DType::kI32},
                                                      {"<i8", DType::kI64},
                                                      {"|u1", DType::kU8}};
  auto it = kTypes.find(array.dtype);
  if (it == kTypes.end()) {
    throw_error(ErrorKind::kInvalidArgument, "npy: no tensor dtype for '{}'", array.dtype);
  }
  Tensor t = Tensor::zeros(it->second, array.shape);
  if (!array.data.empty()) std::memcpy(t.data<uint8_t>(), array.data.data(), array.data.size());
  return t;
}

}  // namespace hark::testing
