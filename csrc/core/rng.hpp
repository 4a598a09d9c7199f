// Caffe's CPU random stream, bit for bit: BVLC Caffe 1.0's caffe_rng_* (src/caffe/util/
// math_functions.cpp) over Boost 1.74's boost::mt19937 and its distributions. Every random
// number of the engine (fillers, Dropout masks) comes from the one process-wide stream
// caffe_rng(), as in Caffe, so that a net built after set_random_seed(s) gets Caffe's params
// and masks. tests/caffe_rng_reference.py is a NumPy re-creation of the same stream.
#pragma once

#include <cstdint>
#include <string>

namespace augdrop {

// A 32-bit Mersenne Twister (MT19937), seeded the standard way (the same words as
// boost::mt19937(seed), std::mt19937(seed) and numpy.random.RandomState(seed)).
// One word at a time through operator(), or many at once through Fill / FillAtMost, which
// regenerate (twist) and temper the 624-word state in SIMD (math/simd.hpp's vectors: 16 lanes
// with AVX-512, 8 with AVX2, scalar code for the words left over) and give exactly the words
// that as many operator() calls would.
class Rng {
 public:
  static constexpr int kStateWords = 624;

  explicit Rng(uint32_t seed);
  uint32_t operator()() {
    if (index_ >= kStateWords) Twist();
    return Temper(state_[index_++]);
  }
  // The next n words.
  void Fill(int64_t n, uint32_t* out);
  // The next n words u, each as u <= limit ? 1 : 0 (a Bernoulli draw as an integer test).
  void FillAtMost(int64_t n, uint32_t limit, uint32_t* out);
  // The engine's full state as text, in std::mt19937's stream format (624 words, then the
  // position), for exact resume.
  std::string state() const;
  void set_state(const std::string& state);

  static uint32_t Temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    return y ^ (y >> 18);
  }

 private:
  // Regenerates all 624 words and restarts at word 0.
  void Twist();

  alignas(64) uint32_t state_[kStateWords];
  int index_ = kStateWords;  // the next word to temper; kStateWords: twist first
};

// The process-wide stream: seeded from std::random_device until set_random_seed is called.
// Not synchronised: draw from one thread at a time.
Rng& caffe_rng();

// Caffe::set_random_seed: a fresh mt19937 seeded with uint32(seed).
void set_random_seed(uint64_t seed);

// One word of the stream.
uint32_t caffe_rng_rand();

// boost::uniform_real<float>(a, nextafter(b, FLT_MAX)): in float, v = float(u) / 2^32 *
// (b' - a) + a, drawn again while v >= b'. One word per value (more on a redraw).
// Requires finite a <= b.
void caffe_rng_uniform(int64_t n, float a, float b, float* r);

// boost::normal_distribution<float>(mu, sigma) (Boost 1.74's ziggurat): unit * sigma + mu.
// Mostly one word per value, a variable number on the rejection and tail paths.
// Requires sigma > 0.
void caffe_rng_gaussian(int64_t n, float mu, float sigma, float* r);

// boost::bernoulli_distribution<double>(p): r[i] = 1 if double(u) <= p * (2^32 - 1), else 0,
// one word per element; p == 0 draws no word at all (Boost returns false without drawing).
// Requires 0 <= p <= 1. As u is an integer, the test is u <= floor(p * (2^32 - 1)), done in
// SIMD over whole blocks of the state (Rng::FillAtMost).
void caffe_rng_bernoulli(int64_t n, double p, uint32_t* r);

// caffe_rng_bernoulli<float>, i.e. bernoulli_distribution<float>: the same test in float,
// float(u) <= p * float(2^32 - 1). Only the sparse gaussian filler uses it (its probability is
// a float); Dropout uses the double version above.
void caffe_rng_bernoulli_float(int64_t n, float p, uint32_t* r);

}  // namespace augdrop
