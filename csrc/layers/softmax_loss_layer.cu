// SoftmaxWithLoss on the GPU (Caffe's softmax_loss_layer.cu): the same formulas as
// softmax_loss_layer.cpp. The loss and the non-ignored count are summed on the device in a
// fixed order (per thread, then a tree per block, then a tree over the blocks), so a run repeats
// bit for bit; the loss sum's rounding differs from the CPU's one running sum, as Caffe's does.
// As on the CPU, a label outside [0, C) that is not the ignore label is an error (both passes).
#include <algorithm>
#include <cfloat>
#include <climits>
#include <memory>

#include "core/cuda_check.hpp"
#include "layers/softmax_loss_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

struct LossSums {
  float loss;           // sum of -log(max(p[label], FLT_MIN)) over the counted entries
  long long count;      // entries neither ignored nor out of range
  long long first_bad;  // smallest index of an out-of-range label, kNoBadLabel if none
};
constexpr long long kNoBadLabel = LLONG_MAX;

// The labels and the geometry around them: label (outer * inner); prob and the scores' diff
// (outer, C, inner), dim = C * inner.
struct Labels {
  const float* label;
  int64_t count;  // outer * inner
  int64_t inner, dim, channels;
  bool has_ignore;
  int ignore;
};

// static_cast<int>(label) as the CPU path gets it on x86 (cvttss2si): truncated toward zero,
// INT_MIN for NaN and for values outside int's range (where the device's own conversion would
// saturate, or turn NaN into 0, a valid class).
__device__ int LabelValue(float x) {
  return (x >= -2147483648.f && x < 2147483648.f) ? static_cast<int>(x) : INT_MIN;
}

__device__ LossSums Combine(const LossSums& a, const LossSums& b) {
  return {a.loss + b.loss, a.count + b.count,
          a.first_bad < b.first_bad ? a.first_bad : b.first_bad};
}

// Tree over the block (blockDim.x == kCudaThreads, a power of two), the same pairs every run.
__device__ LossSums BlockSum(LossSums v) {
  __shared__ LossSums partial[kCudaThreads];
  partial[threadIdx.x] = v;
  __syncthreads();
  for (int half = kCudaThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half)
      partial[threadIdx.x] = Combine(partial[threadIdx.x], partial[threadIdx.x + half]);
    __syncthreads();
  }
  return partial[0];
}

// One LossSums per block over a grid-stride share of the entries. prob == nullptr: count and
// check only (the backward pass).
__global__ void SumBlocks(Labels labels, const float* prob, LossSums* block_sums) {
  LossSums sums{0.f, 0, kNoBadLabel};
  AD_CUDA_KERNEL_LOOP(t, labels.count) {
    const int value = LabelValue(labels.label[t]);
    if (labels.has_ignore && value == labels.ignore) continue;
    if (value < 0 || value >= labels.channels) {
      if (t < sums.first_bad) sums.first_bad = t;
      continue;
    }
    if (prob) {
      const int64_t i = t / labels.inner, j = t % labels.inner;
      const float p = prob[i * labels.dim + value * labels.inner + j];
      sums.loss -= logf(p < FLT_MIN ? FLT_MIN : p);  // std::max(p, FLT_MIN): NaN stays NaN
    }
    ++sums.count;
  }
  const LossSums block = BlockSum(sums);
  if (threadIdx.x == 0) block_sums[blockIdx.x] = block;
}

__global__ void SumTotal(int blocks, const LossSums* block_sums, LossSums* total) {
  LossSums sums{0.f, 0, kNoBadLabel};
  for (int b = threadIdx.x; b < blocks; b += blockDim.x) sums = Combine(sums, block_sums[b]);
  const LossSums all = BlockSum(sums);
  if (threadIdx.x == 0) *total = all;
}

// dx holds prob: minus one at the label, zero over the channels of an ignored entry.
__global__ void LabelGradient(Labels labels, float* dx) {
  AD_CUDA_KERNEL_LOOP(t, labels.count) {
    const int value = LabelValue(labels.label[t]);
    float* d = dx + (t / labels.inner) * labels.dim + t % labels.inner;
    if (labels.has_ignore && value == labels.ignore) {
      for (int64_t c = 0; c < labels.channels; ++c) d[c * labels.inner] = 0.f;
    } else if (value >= 0 && value < labels.channels) {
      d[value * labels.inner] -= 1.f;
    }
  }
}

// The sums over all entries, read back to the host (24 bytes).
LossSums SumOverLabels(const Labels& labels, const float* prob,
                       std::unique_ptr<SyncedMemory>* block_sums,
                       std::unique_ptr<SyncedMemory>* total_sums) {
  if (!*block_sums) *block_sums = std::make_unique<SyncedMemory>(kCudaThreads * sizeof(LossSums));
  if (!*total_sums) *total_sums = std::make_unique<SyncedMemory>(sizeof(LossSums));
  // The grid depends on the count alone, so the order of the sums does too.
  const int blocks = std::min(CudaBlocks(labels.count), kCudaThreads);
  SumBlocks<<<blocks, kCudaThreads>>>(labels, prob,
                                      static_cast<LossSums*>((*block_sums)->mutable_gpu_data()));
  AD_CUDA_POST_KERNEL_CHECK;
  SumTotal<<<1, kCudaThreads>>>(blocks, static_cast<const LossSums*>((*block_sums)->gpu_data()),
                                static_cast<LossSums*>((*total_sums)->mutable_gpu_data()));
  AD_CUDA_POST_KERNEL_CHECK;
  return *static_cast<const LossSums*>((*total_sums)->cpu_data());
}

}  // namespace

void SoftmaxWithLossLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  softmax_layer_->Forward(softmax_bottom_vec_, softmax_top_vec_);
  const Labels labels{bottom[1]->gpu_data(), outer_num_ * inner_num_, inner_num_,
                      prob_.count() / outer_num_, prob_.shape(softmax_axis_), has_ignore_label_,
                      ignore_label_};
  const LossSums sums = SumOverLabels(labels, prob_.gpu_data(), &block_sums_, &total_sums_);
  if (sums.first_bad != kNoBadLabel) {
    // The CPU path's check throws its message (the labels come to the host on this path only).
    LabelAt(bottom[1]->cpu_data(), sums.first_bad / inner_num_, sums.first_bad % inner_num_);
    AD_FAIL("label index " << sums.first_bad << " out of range");
  }
  top[0]->mutable_cpu_data()[0] = sums.loss / GetNormalizer(outer_num_, inner_num_, sums.count);
  if (top.size() == 2) top[1]->ShareData(prob_);
}

void SoftmaxWithLossLayer::Backward_gpu(const BlobVec& top,
                                        const std::vector<bool>& propagate_down,
                                        const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  float* dx = bottom[0]->mutable_gpu_diff();  // (outer, C, inner)
  gpu_copy(prob_.count(), prob_.gpu_data(), dx);
  const Labels labels{bottom[1]->gpu_data(), outer_num_ * inner_num_, inner_num_,
                      prob_.count() / outer_num_, bottom[0]->shape(softmax_axis_),
                      has_ignore_label_, ignore_label_};
  LabelGradient<<<CudaBlocks(labels.count), kCudaThreads>>>(labels, dx);
  AD_CUDA_POST_KERNEL_CHECK;
  const LossSums sums = SumOverLabels(labels, nullptr, &block_sums_, &total_sums_);
  if (sums.first_bad != kNoBadLabel) {
    LabelAt(bottom[1]->cpu_data(), sums.first_bad / inner_num_, sums.first_bad % inner_num_);
    AD_FAIL("label index " << sums.first_bad << " out of range");
  }
  // Caffe: top diff[0] (the loss weight) over the normalizer, read on the host.
  const float loss_weight =
      top[0]->cpu_diff()[0] / GetNormalizer(outer_num_, inner_num_, sums.count);
  gpu_scal(prob_.count(), loss_weight, dx);
}

}  // namespace augdrop
