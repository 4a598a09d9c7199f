// One SIMD register of floats (or of int32 lanes), as GCC/Clang vector extensions: 16 lanes
// (AVX-512) where the target has AVX-512, 8 (AVX2 or two SSE registers) otherwise. The
// compiler turns their arithmetic, comparisons and ?: selects into vector instructions.
#pragma once

#include <cstdint>

namespace augdrop {

#if defined(__AVX512F__)
constexpr int kVec = 16;  // floats per vector register
#else
constexpr int kVec = 8;
#endif

namespace simd {

typedef float Vec __attribute__((vector_size(kVec * sizeof(float))));
typedef int32_t IVec __attribute__((vector_size(kVec * sizeof(int32_t))));
// The same vector at any float-aligned address.
typedef float VecU __attribute__((vector_size(kVec * sizeof(float)), aligned(alignof(float))));

inline Vec Load(const float* p) { return *reinterpret_cast<const VecU*>(p); }
inline void Store(float* p, Vec v) { *reinterpret_cast<VecU*>(p) = v; }

// kVec unsigned 32-bit lanes (random words, masks): shifts, bitwise ops and comparisons are
// unsigned, element-wise.
typedef uint32_t UVec __attribute__((vector_size(kVec * sizeof(uint32_t))));
typedef uint32_t UVecU
    __attribute__((vector_size(kVec * sizeof(uint32_t)), aligned(alignof(uint32_t)), may_alias));

inline UVec Load(const uint32_t* p) { return *reinterpret_cast<const UVecU*>(p); }
inline void Store(uint32_t* p, UVec v) { *reinterpret_cast<UVecU*>(p) = v; }

}  // namespace simd
}  // namespace augdrop
