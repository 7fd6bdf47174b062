// Runs a program (the built `hark`) as a child process with arguments and optional stdin bytes,
// capturing its exit code, stdout and stderr. For tests that drive the real binary.
#pragma once

#include <string>
#include <vector>

namespace hark::testing {

struct ProcessResult {
  int exit_code = -1;  // the exit status, or 128 + signal number if it was killed by a signal
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::string& program, const std::vector<std::string>& args,
                          const std::string& stdin_data = "", int timeout_s = 300);

// run_process(hark_binary(), args, stdin)
ProcessResult run_hark(const std::vector<std::string>& args, const std::string& stdin_data = "");

}  // namespace hark::testing
