// Caffe's CPU random stream, bit for bit: BVLC Caffe 1.0's caffe_rng_* (src/caffe/util/
// math_functions.cpp) over Boost 1.74's boost::mt19937 and its distributions. Every random
// number of the engine (fillers, Dropout masks) comes from the one process-wide stream
// caffe_rng(), as in Caffe, so that a net built after set_random_seed(s) gets Caffe's params
// and masks. tests/caffe_rng_reference.py is a NumPy re-creation of the same stream.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace augdrop {

// A 32-bit Mersenne Twister, seeded the standard way (the same words as boost::mt19937(seed)
// and numpy.random.RandomState(seed)).
class Rng {
 public:
  explicit Rng(uint32_t seed) : mt_(seed) {}
  uint32_t operator()() { return static_cast<uint32_t>(mt_()); }
  // The engine's full state as text (std::mt19937's stream format), for exact resume.
  std::string state() const;
  void set_state(const std::string& state);

 private:
  std::mt19937 mt_;
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
// Requires 0 <= p <= 1.
void caffe_rng_bernoulli(int64_t n, double p, uint32_t* r);

// caffe_rng_bernoulli<float>, i.e. bernoulli_distribution<float>: the same test in float,
// float(u) <= p * float(2^32 - 1). Only the sparse gaussian filler uses it (its probability is
// a float); Dropout uses the double version above.
void caffe_rng_bernoulli_float(int64_t n, float p, uint32_t* r);

}  // namespace augdrop
