// Deconvolution on the GPU (Caffe's deconv_layer.cu): deconv_layer.cpp's steps image by image
// with the base class's device GEMMs; the parameter gradients go straight into the diffs.
#include "layers/deconv_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// (n,) ones on the device, for the bias GEMMs.
const float* Ones(Blob* multiplier, int64_t n) {
  if (multiplier->count() != n) {
    multiplier->Reshape({n});
    gpu_set(n, 1.f, multiplier->mutable_gpu_data());
  }
  return multiplier->gpu_data();
}

}  // namespace

void DeconvolutionLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->gpu_data();
  const float* b = bias_term_ ? blobs_[1]->gpu_data() : nullptr;
  const float* ones = b ? Ones(&gpu_bias_multiplier_, top_spatial_) : nullptr;
  gpu_col_buffer_.Reshape({kernel_dim_ * group_ * out_spatial_});
  float* col = gpu_col_buffer_.mutable_gpu_data();
  const int64_t num = bottom[0]->shape(0);
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->gpu_data();
    float* y = top[i]->mutable_gpu_data();
    for (int64_t n = 0; n < num; ++n) {
      backward_gpu_gemm(x + n * bottom_dim_, w, y + n * top_dim_, col);
      if (b) forward_gpu_bias(y + n * top_dim_, b, ones);
    }
  }
}

void DeconvolutionLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                      const BlobVec& bottom) {
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  const float* ones = bias_grad ? Ones(&gpu_bias_multiplier_, top_spatial_) : nullptr;
  gpu_col_buffer_.Reshape({kernel_dim_ * group_ * out_spatial_});
  float* col = gpu_col_buffer_.mutable_gpu_data();
  const int64_t num = bottom[0]->shape(0);
  float* dw = weight_grad ? blobs_[0]->mutable_gpu_diff() : nullptr;
  float* db = bias_grad ? blobs_[1]->mutable_gpu_diff() : nullptr;
  for (size_t i = 0; i < top.size(); ++i) {
    const float* dy = top[i]->gpu_diff();
    const float* x = dw ? bottom[i]->gpu_data() : nullptr;
    float* dx = propagate_down[i] ? bottom[i]->mutable_gpu_diff() : nullptr;
    const float* w = dx ? blobs_[0]->gpu_data() : nullptr;
    for (int64_t n = 0; n < num; ++n) {
      if (db) backward_gpu_bias(db, dy + n * top_dim_, ones);
      if (dw) weight_gpu_gemm(dy + n * top_dim_, x + n * bottom_dim_, dw, col);
      if (dx) forward_gpu_gemm(dy + n * top_dim_, w, dx + n * bottom_dim_, col);
    }
  }
}

}  // namespace augdrop
