// SigmoidCrossEntropyLoss on the GPU (Caffe's sigmoid_cross_entropy_loss_layer.cu): the same
// formulas as the .cpp. DEVIATION: Caffe borrows the bottoms' diffs as scratch for the
// per-element terms and sums them with asum; here they go to a buffer of the layer's own and are
// summed with their signs by one block in a fixed order (equal to Caffe's for targets in [0, 1],
// where every term has the same sign).
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/sigmoid_cross_entropy_loss_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// loss[i]: the negated log-likelihood of element i (0 if ignored); valid[i]: 1 or 0.
__global__ void XentTerms(int64_t n, const float* x, const float* t, bool has_ignore, int ignore,
                          float* loss, float* valid) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    if (has_ignore && static_cast<int>(t[i]) == ignore) {
      loss[i] = 0.f;
      valid[i] = 0.f;
    } else {
      const float pos = x[i] >= 0 ? 1.f : 0.f;
      loss[i] = -(x[i] * (t[i] - pos) - logf(1.f + expf(x[i] - 2.f * x[i] * pos)));
      valid[i] = 1.f;
    }
  }
}

// out[0] = sum of a[0 .. n), out[1] = sum of b[0 .. n): one block, a fixed order.
__global__ void SumTwo(int64_t n, const float* a, const float* b, float* out) {
  float sa = 0.f, sb = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    sa += a[i];
    sb += b[i];
  }
  sa = BlockSum(sa);
  sb = BlockSum(sb);
  if (threadIdx.x == 0) {
    out[0] = sa;
    out[1] = sb;
  }
}

__global__ void ZeroIgnored(int64_t n, const float* t, int ignore, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    if (static_cast<int>(t[i]) == ignore) dx[i] = 0.f;
  }
}

}  // namespace

void SigmoidCrossEntropyLossLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  sigmoid_bottom_vec_[0] = bottom[0];
  sigmoid_layer_->Forward(sigmoid_bottom_vec_, sigmoid_top_vec_);
  const int64_t count = bottom[0]->count();
  loss_terms_.Reshape({2, count});
  float* loss = loss_terms_.mutable_gpu_data();
  float* valid = loss + count;
  XentTerms<<<CudaBlocks(count), kCudaThreads>>>(count, bottom[0]->gpu_data(),
                                                 bottom[1]->gpu_data(), has_ignore_label_,
                                                 ignore_label_, loss, valid);
  AD_CUDA_POST_KERNEL_CHECK;
  loss_sums_.Reshape({2});
  SumTwo<<<1, kReduceThreads>>>(count, loss, valid, loss_sums_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  const float* host = loss_sums_.cpu_data();  // 8 bytes back to the host
  normalizer_ = GetNormalizer(outer_num_, inner_num_, static_cast<int64_t>(host[1]));
  top[0]->mutable_cpu_data()[0] = host[0] / normalizer_;
}

void SigmoidCrossEntropyLossLayer::Backward_gpu(const BlobVec& top,
                                                const std::vector<bool>& propagate_down,
                                                const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  const int64_t count = bottom[0]->count();
  const float* t = bottom[1]->gpu_data();
  float* dx = bottom[0]->mutable_gpu_diff();
  gpu_copy(count, sigmoid_output_.gpu_data(), dx);
  gpu_axpy(count, -1.f, t, dx);
  if (has_ignore_label_) {
    ZeroIgnored<<<CudaBlocks(count), kCudaThreads>>>(count, t, ignore_label_, dx);
    AD_CUDA_POST_KERNEL_CHECK;
  }
  gpu_scal(count, top[0]->cpu_diff()[0] / normalizer_, dx);
}

}  // namespace augdrop
