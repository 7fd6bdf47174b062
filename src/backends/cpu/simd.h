// Private to the CPU backend: the vector maths its loops share, and HARK_CPU_DISPATCH, which
// compiles a hot leaf kernel once per x86 ISA level (baseline, AVX2+FMA, AVX-512) and calls the
// one set_isa() selected, the best the CPU has by default. The default build has no -march flag,
// so without this these loops would be SSE2 on the AVX-512 machines we serve from; choosing the
// level at run time rather than load time (GCC's target_clones) also lets the tests run every
// level (and target_clones' "arch=" clones match CPU models, not features).
//
// The transcendental functions are written on GCC/Clang vector types rather than left to the
// auto-vectoriser: with scalar code GCC sinks the polynomial into the branches of the
// range clamp and then refuses to if-convert it back (the maths "could trap"), so the loop stays
// scalar. Each level uses vectors of exactly one of its registers (wider generic vectors are
// split by GCC into register pieces badly enough to be slower than scalar code).
#pragma once

#include <cstdint>
#include <cstring>

#include "backends/cpu/kernels.h"

namespace hark::backends::cpu {
// The level kernels run at; relaxed atomic load (kernels.h has set_isa).
Isa active_isa();
}  // namespace hark::backends::cpu

// Kernel bodies are always_inline so that each ISA variant inlines its own copy and compiles it
// for its target (GCC never inlines a plain function into one built for another target).
#define HARK_INLINE [[gnu::always_inline]] inline

// HARK_CPU_DISPATCH(name, (params), (args)) defines `void name(params)` from an always_inline
// `template <int L> void name##_body(params)`, L being the floats per vector register of the
// level (Vec<L> below); put it in an anonymous namespace for internal linkage.
#if defined(__x86_64__) && defined(__GNUC__)
#define HARK_CPU_DISPATCH(name, params, args)                                             \
  [[gnu::target(                                                                          \
      "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]] static void name##_avx512 params { \
    name##_body<16> args;                                                                 \
  }                                                                                       \
  [[gnu::target("avx2,fma")]] static void name##_avx2 params { name##_body<8> args; }     \
  static void name##_baseline params { name##_body<4> args; }                             \
  void name params {                                                                      \
    switch (::hark::backends::cpu::active_isa()) {                                        \
      case ::hark::backends::cpu::Isa::kAvx512: return name##_avx512 args;                \
      case ::hark::backends::cpu::Isa::kAvx2: return name##_avx2 args;                    \
      case ::hark::backends::cpu::Isa::kBaseline: break;                                  \
    }                                                                                     \
    name##_baseline args;                                                                 \
  }
#else
#define HARK_CPU_DISPATCH(name, params, args) \
  void name params { name##_body<4> args; }
#endif

// Vectors only travel between always_inline functions, so the ABI note GCC gives for passing
// them without AVX-512 is moot; it is silenced for the backend files that include this header.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace hark::backends::cpu {

// The vector types of L lanes, spelled out per L: GCC drops vector_size with a dependent size
// when it parses a template, which then fails to compile.
template <int L>
struct VecTypes;
template <>
struct VecTypes<4> {
  typedef float F __attribute__((vector_size(16)));
  typedef int32_t I __attribute__((vector_size(16)));
};
template <>
struct VecTypes<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
};
template <>
struct VecTypes<16> {
  typedef float F __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
};

// Vectors of L floats (L = 4, 8, 16: one SSE, AVX2 or AVX-512 register) and the maths on them.
template <int L>
struct Vec {
  static constexpr int kLanes = L;
  using F = typename VecTypes<L>::F;
  using I = typename VecTypes<L>::I;

  HARK_INLINE static F splat(float v) { return F{} + v; }
  HARK_INLINE static F load(const float* p) {
    F v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  HARK_INLINE static void store(float* p, const F& v) { std::memcpy(p, &v, sizeof v); }

  // The first n < L floats of p, the other lanes `fill`.
  HARK_INLINE static F load_partial(const float* p, int64_t n, float fill) {
    float buf[L];
    for (int i = 0; i < L; ++i) buf[i] = fill;
    std::memcpy(buf, p, size_t(n) * sizeof(float));
    return load(buf);
  }
  HARK_INLINE static void store_partial(float* p, const F& v, int64_t n) {
    float buf[L];
    store(buf, v);
    std::memcpy(p, buf, size_t(n) * sizeof(float));
  }

  HARK_INLINE static F select(const I& mask, const F& a, const F& b) { return mask ? a : b; }

  // NaN lanes of b are skipped.
  HARK_INLINE static F max(const F& a, const F& b) { return select(b > a, b, a); }
  HARK_INLINE static float max_lane(const F& v) {
    float m = v[0];
    for (int i = 1; i < L; ++i) m = v[i] > m ? v[i] : m;
    return m;
  }
  HARK_INLINE static float sum(const F& v) {
    float s = 0.0f;
    for (int i = 0; i < L; ++i) s += v[i];
    return s;
  }

  // e^x to about 1.3 ulp (Cephes' polynomial after Cody-Waite reduction). x < -87.34 gives 0
  // (so -inf gives 0), x > 88.72 gives +inf, NaN stays NaN.
  HARK_INLINE static F exp(const F& x) {
    const F lo = splat(-87.33654f), hi = splat(88.72283f);
    F xc = select(x > lo, x, lo);  // NaN becomes lo, so the int conversion below is defined
    xc = select(xc < hi, xc, hi);
    const F round = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
    const F n = (xc * 1.44269504088896341f + round) - round;
    F r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    F p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    // n is in [-126, 127] here, so this is the exponent field of a normal float.
    const I bits = (__builtin_convertvector(n, I) + 127) << 23;
    F y = p * __builtin_bit_cast(F, bits);
    y = select(x < lo, splat(0.0f), y);
    y = select(x > hi, splat(__builtin_inff()), y);
    return select(x != x, x, y);
  }

  // Phi(x) = P(N(0,1) <= x) = 0.5 * erfc(-x / sqrt(2)), with erfc from a Chebyshev fit of
  // erfc(z) * exp(z^2) (Numerical Recipes' erfcc, relative error < 1.2e-7). Evaluated on |x| and
  // reflected, so the small values in the lower tail keep their relative accuracy.
  HARK_INLINE static F normal_cdf(const F& x) {
    const F ax = select(x < 0.0f, -x, x);
    const F z = ax * 0.70710678118654752f;
    const F t = 1.0f / (1.0f + 0.5f * z);
    F p = splat(0.17087277f);
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const F half_erfc = 0.5f * t * exp(p - z * z);
    return select(x < 0.0f, half_erfc, 1.0f - half_erfc);
  }
};

}  // namespace hark::backends::cpu
