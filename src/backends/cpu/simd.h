// Private to the CPU backend: the vector maths its loops share, and HARK_CPU_CLONES, which
// compiles a hot leaf function once per x86 ISA level and picks the best one at load time (the
// default build has no -march flag; without the clones these loops would be SSE2 on AVX-512).
//
// The transcendental functions are written on GCC/Clang vector types of 16 floats rather than
// left to the auto-vectoriser: with scalar code GCC sinks the polynomial into the branches of the
// range clamp and then refuses to if-convert it back (the maths "could trap"), so the loop stays
// scalar. A 16-lane vector is lowered to 4 SSE, 2 AVX2 or 1 AVX-512 register per operation.
// Helpers used inside a cloned function must be always_inline: GCC does not inline a plain
// function into a clone built for another target.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX512F__) && !defined(HARK_NO_CLONES)
#define HARK_CPU_CLONES \
  __attribute__((target_clones("default", "arch=haswell", "arch=skylake-avx512")))
#else
#define HARK_CPU_CLONES
#endif

#define HARK_INLINE [[gnu::always_inline]] inline

// Vectors only travel between always_inline functions, so the ABI note GCC gives for passing
// them without AVX-512 is moot; it is silenced for the backend files that include this header.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace hark::backends::cpu::simd {

constexpr int kLanes = 16;
using VecF = float __attribute__((vector_size(kLanes * sizeof(float))));
using VecI = int32_t __attribute__((vector_size(kLanes * sizeof(int32_t))));

HARK_INLINE VecF splat(float v) { return VecF{} + v; }
HARK_INLINE VecF load(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
HARK_INLINE void store(float* p, const VecF& v) { std::memcpy(p, &v, sizeof v); }

// The first n < kLanes floats of p, the other lanes `fill`.
HARK_INLINE VecF load_partial(const float* p, int64_t n, float fill) {
  float buf[kLanes];
  for (int i = 0; i < kLanes; ++i) buf[i] = fill;
  std::memcpy(buf, p, size_t(n) * sizeof(float));
  return load(buf);
}
HARK_INLINE void store_partial(float* p, const VecF& v, int64_t n) {
  float buf[kLanes];
  store(buf, v);
  std::memcpy(p, buf, size_t(n) * sizeof(float));
}

HARK_INLINE VecF select(const VecI& mask, const VecF& a, const VecF& b) { return mask ? a : b; }

// e^x to about 1.3 ulp (Cephes' polynomial after Cody-Waite reduction). x < -87.34 gives 0
// (so -inf gives 0), x > 88.72 gives +inf, NaN stays NaN.
HARK_INLINE VecF exp(const VecF& x) {
  const VecF lo = splat(-87.33654f), hi = splat(88.72283f);
  VecF xc = select(x > lo, x, lo);  // NaN becomes lo, so the int conversion below is defined
  xc = select(xc < hi, xc, hi);
  const VecF round = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const VecF n = (xc * 1.44269504088896341f + round) - round;
  VecF r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  VecF p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // n is in [-126, 127] here, so this is the exponent field of a normal float.
  const VecI bits = (__builtin_convertvector(n, VecI) + 127) << 23;
  VecF y = p * __builtin_bit_cast(VecF, bits);
  y = select(x < lo, splat(0.0f), y);
  y = select(x > hi, splat(__builtin_inff()), y);
  return select(x != x, x, y);
}

// Phi(x) = P(N(0,1) <= x) = 0.5 * erfc(-x / sqrt(2)), with erfc from a Chebyshev fit of
// erfc(z) * exp(z^2) (Numerical Recipes' erfcc, relative error < 1.2e-7). Evaluated on |x| and
// reflected, so the small values in the lower tail keep their relative accuracy.
HARK_INLINE VecF normal_cdf(const VecF& x) {
  const VecF ax = select(x < 0.0f, -x, x);
  const VecF z = ax * 0.70710678118654752f;
  const VecF t = 1.0f / (1.0f + 0.5f * z);
  VecF p = splat(0.17087277f);
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const VecF half_erfc = 0.5f * t * simd::exp(p - z * z);
  return select(x < 0.0f, half_erfc, 1.0f - half_erfc);
}

}  // namespace hark::backends::cpu::simd
