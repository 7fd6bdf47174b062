// The backend's process-wide CUDA state: device 0, one non-blocking stream, one cuBLAS handle,
// created on first use under a mutex. Failures to create them (no driver, no device) are
// remembered and rethrown as hark::Error on every later use, so a machine without a GPU gets the
// same clean error each time instead of a crash.
#include <fmt/format.h>

#include <mutex>
#include <string>

#include "backends/cuda/check.h"
#include "backends/cuda/runtime.h"

namespace hark::backends::cuda {
namespace detail {

void throw_cuda(cudaError_t err, const char* what) {
  const std::string msg =
      fmt::format("CUDA: {}: {} ({})", what, cudaGetErrorString(err), cudaGetErrorName(err));
  switch (err) {
    case cudaErrorMemoryAllocation: throw Error(ErrorKind::kResourceExhausted, msg);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
    case cudaErrorNotSupported: throw Error(ErrorKind::kUnsupported, msg);
    default: throw Error(ErrorKind::kInternal, msg);
  }
}

void throw_cublas(cublasStatus_t status, const char* what) {
  const std::string msg = fmt::format("cuBLAS: {}: {}", what, cublasGetStatusString(status));
  if (status == CUBLAS_STATUS_ALLOC_FAILED) throw Error(ErrorKind::kResourceExhausted, msg);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || status == CUBLAS_STATUS_ARCH_MISMATCH)
    throw Error(ErrorKind::kUnsupported, msg);
  throw Error(ErrorKind::kInternal, msg);
}

namespace {

struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  bool ready = false;
  std::string failure;  // why creation failed, when it did
  ErrorKind failure_kind = ErrorKind::kInternal;
};

Context& context() {
  static Context ctx;
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      check(cudaSetDevice(0), "cudaSetDevice(0)");
      check(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking), "cudaStreamCreate");
      check(cublasCreate(&ctx.cublas), "cublasCreate");
      check(cublasSetStream(ctx.cublas, ctx.stream), "cublasSetStream");
      ctx.ready = true;
    } catch (const Error& e) {
      ctx.failure = e.what();
      ctx.failure_kind = e.kind();
    }
  });
  if (!ctx.ready) throw Error(ctx.failure_kind, ctx.failure);
  return ctx;
}

}  // namespace

cudaStream_t stream() { return context().stream; }
cublasHandle_t cublas() { return context().cublas; }

}  // namespace detail

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  return n;
}

bool available() { return device_count() > 0; }

std::string device_description() {
  if (!available()) return "no CUDA device";
  cudaDeviceProp p{};
  detail::check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  int runtime = 0;
  detail::check(cudaRuntimeGetVersion(&runtime), "cudaRuntimeGetVersion");
  return fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB, L2 {} MiB, CUDA runtime {}.{})", p.name,
                     p.major, p.minor, p.multiProcessorCount,
                     double(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0),
                     p.l2CacheSize / (1024 * 1024), runtime / 1000, (runtime % 1000) / 10);
}

void synchronize() { detail::check(cudaStreamSynchronize(detail::stream()), "synchronize"); }

}  // namespace hark::backends::cuda
