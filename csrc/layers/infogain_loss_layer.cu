// InfogainLoss on the GPU: the same formulas as infogain_loss_layer.cpp (Caffe has no GPU code
// for this layer; its GPU mode runs the CPU path). The labels are checked on the host; the loss
// and the non-ignored count are summed by one block in a fixed order.
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/infogain_loss_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

struct Geometry {
  int64_t entries;  // outer * inner
  int64_t inner, K;
  bool has_ignore;
  int ignore;
};

// loss[t] = -sum_k H[l, k] log(max(p[i, k, j], 1e-20)) for entry t = (i, j), valid[t] = 1;
// both 0 when ignored.
__global__ void InfogainTerms(Geometry g, const float* prob, const float* label, const float* H,
                              float* loss, float* valid) {
  AD_CUDA_KERNEL_LOOP(t, g.entries) {
    const int l = static_cast<int>(label[t]);
    if (g.has_ignore && l == g.ignore) {
      loss[t] = 0.f;
      valid[t] = 0.f;
      continue;
    }
    const int64_t i = t / g.inner, j = t % g.inner;
    float s = 0.f;
    for (int64_t k = 0; k < g.K; ++k) {
      const float p = prob[(i * g.K + k) * g.inner + j];
      s -= H[l * g.K + k] * logf(p < 1e-20f ? 1e-20f : p);
    }
    loss[t] = s;
    valid[t] = 1.f;
  }
}

// out[0] = sum of a, out[1] = sum of b: one block, a fixed order.
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

__global__ void RowSums(int64_t K, const float* H, float* sums) {
  AD_CUDA_KERNEL_LOOP(r, K) {
    float s = 0.f;
    for (int64_t c = 0; c < K; ++c) s += H[r * K + c];
    sums[r] = s;
  }
}

// dx[i, k, j] = p * sum_rows[l] - H[l, k], 0 at ignored entries; one thread per element.
__global__ void InfogainBackward(Geometry g, const float* prob, const float* label,
                                 const float* H, const float* sum_rows, float* dx) {
  AD_CUDA_KERNEL_LOOP(e, g.entries * g.K) {
    const int64_t j = e % g.inner, k = (e / g.inner) % g.K, i = e / (g.inner * g.K);
    const int l = static_cast<int>(label[i * g.inner + j]);
    dx[e] = (g.has_ignore && l == g.ignore) ? 0.f : prob[e] * sum_rows[l] - H[l * g.K + k];
  }
}

}  // namespace

void InfogainLossLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  softmax_layer_->Forward(softmax_bottom_vec_, softmax_top_vec_);
  const float* host_label = bottom[1]->cpu_data();
  for (int64_t i = 0; i < outer_num_; ++i)
    for (int64_t j = 0; j < inner_num_; ++j) LabelAt(host_label, i, j);
  const Geometry g{outer_num_ * inner_num_, inner_num_, num_labels_, has_ignore_label_,
                   ignore_label_};
  loss_terms_.Reshape({2, g.entries});
  float* loss = loss_terms_.mutable_gpu_data();
  float* valid = loss + g.entries;
  InfogainTerms<<<CudaBlocks(g.entries), kCudaThreads>>>(g, prob_.gpu_data(),
                                                         bottom[1]->gpu_data(),
                                                         Infogain(bottom).gpu_data(), loss, valid);
  AD_CUDA_POST_KERNEL_CHECK;
  loss_sums_.Reshape({2});
  SumTwo<<<1, kReduceThreads>>>(g.entries, loss, valid, loss_sums_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  const float* sums = loss_sums_.cpu_data();
  top[0]->mutable_cpu_data()[0] =
      sums[0] / GetNormalizer(outer_num_, inner_num_, static_cast<int64_t>(sums[1]));
  if (top.size() == 2) top[1]->ShareData(prob_);
}

void InfogainLossLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                     const BlobVec& bottom) {
  CheckBackward(propagate_down);
  if (!propagate_down[0]) return;
  const Geometry g{outer_num_ * inner_num_, inner_num_, num_labels_, has_ignore_label_,
                   ignore_label_};
  const float* H = Infogain(bottom).gpu_data();
  RowSums<<<CudaBlocks(g.K), kCudaThreads>>>(g.K, H, sum_rows_H_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  float* dx = bottom[0]->mutable_gpu_diff();
  InfogainBackward<<<CudaBlocks(g.entries * g.K), kCudaThreads>>>(
      g, prob_.gpu_data(), bottom[1]->gpu_data(), H, sum_rows_H_.gpu_data(), dx);
  AD_CUDA_POST_KERNEL_CHECK;
  // The non-ignored count, from the labels on the host (checked there by the forward pass).
  const float* host_label = bottom[1]->cpu_data();
  int64_t count = 0;
  for (int64_t t = 0; t < g.entries; ++t)
    count += !(has_ignore_label_ && static_cast<int>(host_label[t]) == ignore_label_);
  gpu_scal(bottom[0]->count(), top[0]->cpu_diff()[0] / GetNormalizer(outer_num_, inner_num_, count),
           dx);
}

}  // namespace augdrop
