// Convolution on the GPU (Caffe's conv_layer.cu and base_conv_layer.cpp): the CAFFE engine of
// conv_layer.cpp (ForwardGemm / BackwardGemm) with one chunk of images per pass, by default
// the whole batch: one batched im2col of the chunk's images, their columns side by side
// (C * k_h * k_w, L = count * H_out * W_out), then one GEMM per group over all L pixels.
// DEVIATION: Caffe runs one GEMM per image and group; the whole-chunk GEMM has the same
// products, summed in another order (cuBLAS's, as Caffe's GPU sums are), and the weight and
// bias gradients go straight into the parameter diffs (beta = 1) with no per-image scratch.
#include <algorithm>

#include "core/cuda_check.hpp"
#include "layers/conv_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// Images per chunk: the whole batch unless its column or output buffer would pass the budget
// (512 MiB of floats each); a single image is always taken.
int64_t GpuChunk(int64_t num, int64_t floats_per_image) {
  const int64_t budget = int64_t(1) << 27;
  return std::max<int64_t>(1, std::min<int64_t>(num, budget / std::max<int64_t>(floats_per_image, 1)));
}

// out (C_out, L = count * hw), channel-major -> y (count, C_out, hw), plus the bias (if any).
// n = count * C_out * hw threads, one per top element.
__global__ void ChannelMajorToImages(int64_t n, const float* out, const float* bias,
                                     int64_t channels, int64_t hw, int64_t L, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t s = i % hw, c = i / hw % channels, k = i / (hw * channels);
    y[i] = out[c * L + k * hw + s] + (bias ? bias[c] : 0.f);
  }
}

// dy (count, C_out, hw) -> dyb (C_out, L = count * hw), channel-major.
__global__ void ImagesToChannelMajor(int64_t n, const float* dy, int64_t channels, int64_t hw,
                                     int64_t L, float* dyb) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t s = i % hw, c = i / hw % channels, k = i / (hw * channels);
    dyb[c * L + k * hw + s] = dy[i];
  }
}

}  // namespace

void ConvolutionLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  if (nd_) return ForwardNdGpu(bottom, top);
  const float* w = blobs_[0]->gpu_data();  // (C_out, kernel_dim)
  const float* b = bias_term_ ? blobs_[1]->gpu_data() : nullptr;
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t per_group = num_output_ / group_, kd = kernel_dim_, hw = out_spatial_;
  const int64_t chunk = GpuChunk(num, std::max(kd * group_, num_output_) * hw);
  gpu_col_buffer_.Reshape({kd * group_ * chunk * hw});
  gpu_out_buffer_.Reshape({num_output_ * chunk * hw});
  float* col = gpu_col_buffer_.mutable_gpu_data();
  float* out = gpu_out_buffer_.mutable_gpu_data();
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->gpu_data();
    float* y = top[i]->mutable_gpu_data();
    for (int64_t n0 = 0; n0 < num; n0 += chunk) {
      const int64_t count = std::min(chunk, num - n0), L = count * hw;
      im2col_gpu_batched(x + n0 * in_dim, geom_, col, L, count, in_dim, hw);
      for (int64_t g = 0; g < group_; ++g) {
        // out_g (C_out/g, L) = W_g (C_out/g, kernel_dim) * col_g (kernel_dim, L)
        gpu_gemm(Trans::No, Trans::No, per_group, L, kd, 1.f, w + g * per_group * kd,
                 col + g * kd * L, 0.f, out + g * per_group * L);
      }
      const int64_t n = count * out_dim;
      ChannelMajorToImages<<<CudaBlocks(n), kCudaThreads>>>(n, out, b, num_output_, hw, L,
                                                            y + n0 * out_dim);
      AD_CUDA_POST_KERNEL_CHECK;
    }
  }
}

void ConvolutionLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                    const BlobVec& bottom) {
  if (nd_) return BackwardNdGpu(top, propagate_down, bottom);
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t per_group = num_output_ / group_, kd = kernel_dim_, hw = out_spatial_;
  const int64_t chunk = GpuChunk(num, std::max(kd * group_, num_output_) * hw);
  gpu_col_buffer_.Reshape({kd * group_ * chunk * hw});
  gpu_out_buffer_.Reshape({num_output_ * chunk * hw});
  float* col = gpu_col_buffer_.mutable_gpu_data();
  float* dyb = gpu_out_buffer_.mutable_gpu_data();
  const float* ones = nullptr;
  if (bias_grad) {
    gpu_bias_multiplier_.Reshape({chunk * hw});
    gpu_set(chunk * hw, 1.f, gpu_bias_multiplier_.mutable_gpu_data());
    ones = gpu_bias_multiplier_.gpu_data();
  }
  // Parameter diffs accumulate, over the chunks and over the bottom/top pairs.
  float* dw = weight_grad ? blobs_[0]->mutable_gpu_diff() : nullptr;
  float* db = bias_grad ? blobs_[1]->mutable_gpu_diff() : nullptr;
  for (size_t i = 0; i < top.size(); ++i) {
    if (!weight_grad && !bias_grad && !propagate_down[i]) continue;
    const float* dy = top[i]->gpu_diff();
    const float* x = weight_grad ? bottom[i]->gpu_data() : nullptr;
    float* dx = propagate_down[i] ? bottom[i]->mutable_gpu_diff() : nullptr;
    const float* w = dx ? blobs_[0]->gpu_data() : nullptr;
    for (int64_t n0 = 0; n0 < num; n0 += chunk) {
      const int64_t count = std::min(chunk, num - n0), L = count * hw;
      // dyb (C_out, L): the chunk's top diff, channel-major.
      const int64_t n = count * out_dim;
      ImagesToChannelMajor<<<CudaBlocks(n), kCudaThreads>>>(n, dy + n0 * out_dim, num_output_,
                                                            hw, L, dyb);
      AD_CUDA_POST_KERNEL_CHECK;
      // db (C_out,) += dyb (C_out, L) * ones (L,)
      if (db) gpu_gemv(Trans::No, num_output_, L, 1.f, dyb, ones, 1.f, db);
      if (dw) {
        im2col_gpu_batched(x + n0 * in_dim, geom_, col, L, count, in_dim, hw);
        for (int64_t g = 0; g < group_; ++g) {
          // dW_g (C_out/g, kernel_dim) += dy_g (C_out/g, L) * col_g^T (L, kernel_dim)
          gpu_gemm(Trans::No, Trans::Yes, per_group, kd, L, 1.f, dyb + g * per_group * L,
                   col + g * kd * L, 1.f, dw + g * per_group * kd);
        }
      }
      if (dx) {
        for (int64_t g = 0; g < group_; ++g) {
          // col_g (kernel_dim, L) = W_g^T (kernel_dim, C_out/g) * dy_g (C_out/g, L)
          gpu_gemm(Trans::Yes, Trans::No, kd, L, per_group, 1.f, w + g * per_group * kd,
                   dyb + g * per_group * L, 0.f, col + g * kd * L);
        }
        col2im_gpu_batched(col, geom_, dx + n0 * in_dim, L, count, in_dim, hw);
      }
    }
  }
}

// The N-d path on the device: conv_layer.cpp's ForwardNd / BackwardNd image by image with the
// base class's device steps (Caffe's conv_layer.cu).
void ConvolutionLayer::ForwardNdGpu(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->gpu_data();
  const float* b = bias_term_ ? blobs_[1]->gpu_data() : nullptr;
  gpu_col_buffer_.Reshape({kernel_dim_ * group_ * out_spatial_});
  float* col = gpu_col_buffer_.mutable_gpu_data();
  const float* ones = nullptr;
  if (b) {
    gpu_bias_multiplier_.Reshape({top_spatial_});
    gpu_set(top_spatial_, 1.f, gpu_bias_multiplier_.mutable_gpu_data());
    ones = gpu_bias_multiplier_.gpu_data();
  }
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->gpu_data();
    float* y = top[i]->mutable_gpu_data();
    for (int64_t n = 0; n < bottom[i]->shape(0); ++n) {
      forward_gpu_gemm(x + n * bottom_dim_, w, y + n * top_dim_, col);
      if (b) forward_gpu_bias(y + n * top_dim_, b, ones);
    }
  }
}

void ConvolutionLayer::BackwardNdGpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                     const BlobVec& bottom) {
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  gpu_col_buffer_.Reshape({kernel_dim_ * group_ * out_spatial_});
  float* col = gpu_col_buffer_.mutable_gpu_data();
  const float* ones = nullptr;
  if (bias_grad) {
    gpu_bias_multiplier_.Reshape({top_spatial_});
    gpu_set(top_spatial_, 1.f, gpu_bias_multiplier_.mutable_gpu_data());
    ones = gpu_bias_multiplier_.gpu_data();
  }
  float* dw = weight_grad ? blobs_[0]->mutable_gpu_diff() : nullptr;
  float* db = bias_grad ? blobs_[1]->mutable_gpu_diff() : nullptr;
  for (size_t i = 0; i < top.size(); ++i) {
    const float* dy = top[i]->gpu_diff();
    const float* x = dw ? bottom[i]->gpu_data() : nullptr;
    float* dx = propagate_down[i] ? bottom[i]->mutable_gpu_diff() : nullptr;
    const float* w = dx ? blobs_[0]->gpu_data() : nullptr;
    for (int64_t n = 0; n < bottom[i]->shape(0); ++n) {
      if (db) backward_gpu_bias(db, dy + n * top_dim_, ones);
      if (dw) weight_gpu_gemm(x + n * bottom_dim_, dy + n * top_dim_, dw, col);
      if (dx) backward_gpu_gemm(dy + n * top_dim_, w, dx + n * bottom_dim_, col);
    }
  }
}

}  // namespace augdrop
