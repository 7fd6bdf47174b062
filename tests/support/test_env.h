// Where tests find their inputs: the shared assets ($HARK_SHARED, default ../shared beside the
// source tree), the committed fixtures (tests/data), and the built hark binary.
#pragma once

#include <string>

namespace hark::testing {

std::string shared_dir();                       // $HARK_SHARED, else the build's default ../shared
std::string asset(const std::string& name);     // shared_dir() + "/assets/" + name
std::string source_dir();                       // the project root
std::string test_data(const std::string& rel);  // source_dir() + "/tests/data/" + rel
std::string hark_binary();                      // the built `hark`
std::string temp_dir();  // a fresh directory under $TMPDIR for this test process

}  // namespace hark::testing
