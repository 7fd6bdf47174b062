// The backend's process-wide CUDA state: device 0, one non-blocking stream, one cuBLAS handle,
// created on first use under a mutex. Failures to create them (no driver, no device) are
// remembered and rethrown as hark::Error on every later use, so a machine without a GPU gets the
// same clean error each time instead of a crash.
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
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

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

struct Context {
  void* workspace = nullptr;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  bool ready = false;
  std::string failure;  // why creation failed, when it did
  ErrorKind failure_kind = ErrorKind::kInternal;
};

std::mutex g_device_mutex;
int g_device = 0;
bool g_device_fixed = false;  // the context exists (or was tried): the device can no longer change

Context& context() {
  static Context ctx;
  static std::once_flag once;
  std::call_once(once, [] {
    int device = 0;
    {
      std::lock_guard lock(g_device_mutex);
      g_device_fixed = true;
      device = g_device;
    }
    try {
      check(cudaSetDevice(device), "cudaSetDevice");
      check(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking), "cudaStreamCreate");
      check(cublasCreate(&ctx.cublas), "cublasCreate");
      check(cublasSetStream(ctx.cublas, ctx.stream), "cublasSetStream");
      // A workspace of our own (32 MiB, what PyTorch gives cuBLAS on Hopper) lets cuBLAS pick
      // its split-K and large-tile kernels; it is allocated once, outside the caching allocator.
      check(cudaMalloc(&ctx.workspace, kWorkspaceBytes), "cudaMalloc(cuBLAS workspace)");
      check(cublasSetWorkspace(ctx.cublas, ctx.workspace, kWorkspaceBytes), "cublasSetWorkspace");
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

// The CUDA current device is per host thread: each thread that reaches the backend selects the
// process's device once before its first launch.
void bind_thread(int device) {
  thread_local bool bound = false;
  if (!bound) {
    check(cudaSetDevice(device), "cudaSetDevice");
    bound = true;
  }
}

namespace {

thread_local bool t_capturing = false;

// The capture stream and its cuBLAS handle, created on the first capture.
struct CaptureContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
};

CaptureContext& capture_context(Context& main) {
  static CaptureContext cap;
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (!cap.stream) {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate(capture)");
    cublasHandle_t h = nullptr;
    check(cublasCreate(&h), "cublasCreate(capture)");
    check(cublasSetStream(h, s), "cublasSetStream(capture)");
    // Graph replays run on the main stream, serialised with every other use of the workspace.
    check(cublasSetWorkspace(h, main.workspace, kWorkspaceBytes), "cublasSetWorkspace(capture)");
    cap.cublas = h;
    cap.stream = s;
  }
  return cap;
}

}  // namespace

cudaStream_t stream() {
  Context& ctx = context();
  bind_thread(g_device);
  return t_capturing ? capture_context(ctx).stream : ctx.stream;
}
cublasHandle_t cublas() {
  Context& ctx = context();
  bind_thread(g_device);
  return t_capturing ? capture_context(ctx).cublas : ctx.cublas;
}

void* blas_workspace() { return context().workspace; }
size_t blas_workspace_bytes() { return kWorkspaceBytes; }

void set_capturing(bool on) {
  if (on) (void)capture_context(context());
  t_capturing = on;
}
bool capturing() { return t_capturing; }

// Declared in common.cuh (the .cu files' header, which this file does not include).
bool pdl_enabled();
bool pdl_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("HARK_PDL");
    if (v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0)) return false;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return on;
}

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

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return fmt::format("{} ({})", cudaGetErrorString(err), cudaGetErrorName(err));
  }
  return n > 0 ? std::string() : std::string("no CUDA device");
}

void select_device(int index) {
  const int n = device_count();
  if (index < 0 || index >= n) {
    throw Error(ErrorKind::kUnsupported,
                fmt::format("CUDA device {} does not exist ({} device{} found)", index, n,
                            n == 1 ? "" : "s"));
  }
  std::lock_guard lock(detail::g_device_mutex);
  if (detail::g_device_fixed && detail::g_device != index) {
    throw Error(ErrorKind::kUnsupported,
                fmt::format("this process already uses CUDA device {}; one process serves one "
                            "device (asked for {})",
                            detail::g_device, index));
  }
  detail::g_device = index;
}

int current_device() {
  std::lock_guard lock(detail::g_device_mutex);
  return detail::g_device;
}

DeviceProperties device_properties(int index) {
  const int n = device_count();
  if (index < 0 || index >= n) {
    throw Error(ErrorKind::kUnsupported, fmt::format("CUDA device {} does not exist", index));
  }
  cudaDeviceProp p{};
  detail::check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
  DeviceProperties d;
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  d.memory_total = p.totalGlobalMem;
  // cudaMemGetInfo reports the current device: ask the device in use, else fall back to the total.
  if (index == current_device()) {
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
      d.memory_free = free;
    } else {
      (void)cudaGetLastError();
    }
  }
  return d;
}

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

namespace {
void record(void*& event, const char* what) {
  if (!event) {
    cudaEvent_t e = nullptr;
    detail::check(cudaEventCreate(&e), what);
    event = e;
  }
  detail::check(cudaEventRecord(static_cast<cudaEvent_t>(event), detail::stream()), what);
}
}  // namespace

StreamTimer::~StreamTimer() {
  if (start_) (void)cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  if (stop_) (void)cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

void StreamTimer::start() { record(start_, "StreamTimer::start"); }
void StreamTimer::stop() { record(stop_, "StreamTimer::stop"); }

double StreamTimer::elapsed_ms() {
  if (!start_ || !stop_) return 0;
  detail::check(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)), "StreamTimer: wait");
  float ms = 0;
  detail::check(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), static_cast<cudaEvent_t>(stop_)),
      "StreamTimer: cudaEventElapsedTime");
  return ms;
}

}  // namespace hark::backends::cuda
