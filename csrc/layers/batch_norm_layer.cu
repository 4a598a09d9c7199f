// BatchNorm on the GPU (Caffe's batch_norm_layer.cu): the same formulas as batch_norm_layer.cpp.
// The per-(n, c) sums run in a different order from the host loop (a tree within each row), so
// the statistics agree with the CPU path to rounding, not bit for bit. The running statistics
// are read and updated on the device, the scale factor blobs_[2] included.
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/batch_norm_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// out[r] = alpha * sum_k data[r, k]; data: (rows, len). One block a row.
__global__ void RowSums(int64_t rows, int64_t len, const float* data, float alpha, float* out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = data + r * len;
    float s = 0.f;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) s += row[k];
    s = BlockSum(s);
    if (threadIdx.x == 0) out[r] = alpha * s;
  }
}

// out[c] = sum_n in[n, c], n in order as the host loop; in: (rows, cols).
__global__ void ColSums(int64_t rows, int64_t cols, const float* in, float* out) {
  AD_CUDA_KERNEL_LOOP(c, cols) {
    float s = 0.f;
    for (int64_t n = 0; n < rows; ++n) s += in[n * cols + c];
    out[c] = s;
  }
}

// BatchNormLayer::ChannelSum on the device: per-(n, c) sums over spatial positions scaled by
// alpha into num_by_chans (N, C), then over n into out (C). data: (N, C, spatial).
void ChannelSumGpu(int64_t num, int64_t channels, int64_t spatial_dim, const float* data,
                   float alpha, float* num_by_chans, float* out) {
  const int64_t rows = num * channels;
  int threads = 32;
  while (threads < kReduceThreads && threads < spatial_dim) threads *= 2;
  const int64_t max_blocks = 65535 * 16;
  const int blocks = static_cast<int>(rows < 1 ? 1 : (rows < max_blocks ? rows : max_blocks));
  RowSums<<<blocks, threads>>>(rows, spatial_dim, data, alpha, num_by_chans);
  AD_CUDA_POST_KERNEL_CHECK;
  ColSums<<<CudaBlocks(channels), kCudaThreads>>>(num, channels, num_by_chans, out);
  AD_CUDA_POST_KERNEL_CHECK;
}

// mean = mean_sum / s, var = var_sum / s (both 0 when s == 0); s = scale_factor[0].
__global__ void GlobalStats(int64_t channels, const float* scale_factor, const float* mean_sum,
                            const float* var_sum, float* mean, float* variance) {
  const float s = scale_factor[0];
  const float factor = s == 0.f ? 0.f : 1.f / s;
  AD_CUDA_KERNEL_LOOP(c, channels) {
    mean[c] = factor * mean_sum[c];
    variance[c] = factor * var_sum[c];
  }
}

// y[n, c, k] -= mean[c]
__global__ void SubtractMean(int64_t n, const float* mean, int64_t channels, int64_t spatial_dim,
                             float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] -= mean[(i / spatial_dim) % channels];
}

// y[n, c, k] /= sd[c]
__global__ void DivideByStd(int64_t n, const float* sd, int64_t channels, int64_t spatial_dim,
                            float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] /= sd[(i / spatial_dim) % channels];
}

// s = s * f + 1, rounded after the product as the host's two statements.
__global__ void UpdateScaleFactor(float* s, float f) {
  if (blockIdx.x == 0 && threadIdx.x == 0) s[0] = __fmul_rn(s[0], f) + 1.f;
}

// variance = sqrt(variance + eps)
__global__ void StdFromVariance(int64_t channels, float eps, float* variance) {
  AD_CUDA_KERNEL_LOOP(c, channels) variance[c] = sqrtf(variance[c] + eps);
}

// dx[n, c, k] = dy[n, c, k] / sd[c] (global stats); dx may alias dy.
__global__ void GlobalStatsBackward(int64_t n, const float* dy, const float* sd, int64_t channels,
                                    int64_t spatial_dim, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] / sd[(i / spatial_dim) % channels];
}

// dx = (dy - (sum_dy + sum_dyy * y) / m) / std, written as the host loop; dx may alias dy.
__global__ void BatchStatsBackward(int64_t n, const float* dy, const float* y,
                                   const float* sum_dyy, const float* sum_dy, const float* sd,
                                   float neg_inv_m, int64_t channels, int64_t spatial_dim,
                                   float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t c = (i / spatial_dim) % channels;
    const float t = y[i] * sum_dyy[c] + sum_dy[c];
    dx[i] = (neg_inv_m * t + dy[i]) / sd[c];
  }
}

}  // namespace

void BatchNormLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->gpu_data();  // (N, C, spatial)
  float* y = top[0]->mutable_gpu_data();   // (N, C, spatial); may alias x
  const int64_t count = bottom[0]->count();
  if (bottom[0] != top[0]) gpu_copy(count, x, y);
  float* mean = mean_.mutable_gpu_data();
  float* variance = variance_.mutable_gpu_data();
  float* num_by_chans = num_by_chans_.mutable_gpu_data();

  if (use_global_stats_) {
    GlobalStats<<<CudaBlocks(channels_), kCudaThreads>>>(channels_, blobs_[2]->gpu_data(),
                                                         blobs_[0]->gpu_data(),
                                                         blobs_[1]->gpu_data(), mean, variance);
    AD_CUDA_POST_KERNEL_CHECK;
  } else {
    ChannelSumGpu(num_, channels_, spatial_dim_, x, float(1. / double(num_ * spatial_dim_)),
                  num_by_chans, mean);
  }

  // y = x - mean
  SubtractMean<<<CudaBlocks(count), kCudaThreads>>>(count, mean, channels_, spatial_dim_, y);
  AD_CUDA_POST_KERNEL_CHECK;

  if (!use_global_stats_) {
    // var = E((x - mean)^2), squares kept in x_norm_'s data for the moment.
    float* sq = x_norm_.mutable_gpu_data();
    gpu_mul(count, y, y, sq);
    ChannelSumGpu(num_, channels_, spatial_dim_, sq, float(1. / double(num_ * spatial_dim_)),
                  num_by_chans, variance);

    UpdateScaleFactor<<<1, 1>>>(blobs_[2]->mutable_gpu_data(), moving_average_fraction_);
    AD_CUDA_POST_KERNEL_CHECK;
    gpu_axpby(channels_, 1.f, mean, moving_average_fraction_, blobs_[0]->mutable_gpu_data());
    const int64_t m = count / channels_;
    const float bias_correction_factor = m > 1 ? float(m) / float(m - 1) : 1.f;
    gpu_axpby(channels_, bias_correction_factor, variance, moving_average_fraction_,
              blobs_[1]->mutable_gpu_data());
  }

  // std = sqrt(var + eps); y = (x - mean) / std
  StdFromVariance<<<CudaBlocks(channels_), kCudaThreads>>>(channels_, eps_, variance);
  AD_CUDA_POST_KERNEL_CHECK;
  DivideByStd<<<CudaBlocks(count), kCudaThreads>>>(count, variance, channels_, spatial_dim_, y);
  AD_CUDA_POST_KERNEL_CHECK;
  gpu_copy(count, y, x_norm_.mutable_gpu_data());
}

void BatchNormLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  // In place, dy and dx are the same memory: every dx element is written only after the
  // sums that read dy, and from the dy element at its own index.
  const float* dy = top[0]->gpu_diff();       // (N, C, spatial)
  float* dx = bottom[0]->mutable_gpu_diff();  // (N, C, spatial)
  const float* y = x_norm_.gpu_data();        // (N, C, spatial)
  const float* sd = variance_.gpu_data();
  const int64_t count = x_norm_.count();

  if (use_global_stats_) {
    GlobalStatsBackward<<<CudaBlocks(count), kCudaThreads>>>(count, dy, sd, channels_,
                                                             spatial_dim_, dx);
    AD_CUDA_POST_KERNEL_CHECK;
    return;
  }

  // sum_dyy_c = sum(dy * y), sum_dy_c = sum(dy), over (N, spatial); products in x_norm_ diff.
  float* prod = x_norm_.mutable_gpu_diff();
  gpu_mul(count, y, dy, prod);
  float* num_by_chans = num_by_chans_.mutable_gpu_data();
  ChannelSumGpu(num_, channels_, spatial_dim_, prod, 1.f, num_by_chans,
                sum_dyy_.mutable_gpu_data());
  ChannelSumGpu(num_, channels_, spatial_dim_, dy, 1.f, num_by_chans,
                sum_dy_.mutable_gpu_data());

  // dx = (dy - (sum_dy + sum_dyy * y) / m) / std
  const float neg_inv_m = float(-1. / double(num_ * spatial_dim_));
  BatchStatsBackward<<<CudaBlocks(count), kCudaThreads>>>(
      count, dy, y, sum_dyy_.gpu_data(), sum_dy_.gpu_data(), sd, neg_inv_m, channels_,
      spatial_dim_, dx);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
