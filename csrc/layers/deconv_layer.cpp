#include "layers/deconv_layer.hpp"

#include <algorithm>

#include "core/parallel.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void DeconvolutionLayer::compute_output_shape(int64_t in_h, int64_t in_w, int64_t* out_h,
                                              int64_t* out_w) const {
  const ConvGeometry& g = geom_;
  *out_h = g.stride_h * (in_h - 1) + g.dilation_h * (g.kernel_h - 1) + 1 - 2 * g.pad_h;
  *out_w = g.stride_w * (in_w - 1) + g.dilation_w * (g.kernel_w - 1) + 1 - 2 * g.pad_w;
}

void DeconvolutionLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  BaseConvolutionLayer::Reshape(bottom, top);
  col_buffer_.Reshape({MaxThreads(), kernel_dim_ * group_ * out_spatial_});
  param_diff_buffer_.Reshape({ReductionSlots(), blobs_[0]->count() + num_output_});
}

void DeconvolutionLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->cpu_data();
  const float* b = bias_term_ ? blobs_[1]->cpu_data() : nullptr;
  const int64_t num = bottom[0]->shape(0);
  col_buffer_.Reshape({MaxThreads(), kernel_dim_ * group_ * out_spatial_});
  float* cols = col_buffer_.mutable_cpu_data();
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->cpu_data();
    float* y = top[i]->mutable_cpu_data();
    ParallelFor(num, [&](int64_t n, int t) {
      // y_n = col2im(W^T x_n) (+ b): Convolution's data gradient of x_n
      backward_cpu_gemm(x + n * bottom_dim_, w, y + n * top_dim_, cols + t * col_buffer_.count(1));
      if (b) forward_cpu_bias(y + n * top_dim_, b);
    });
  }
}

void DeconvolutionLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                      const BlobVec& bottom) {
  const float* w = blobs_[0]->cpu_data();
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  const int64_t num = bottom[0]->shape(0), weight_count = blobs_[0]->count();
  col_buffer_.Reshape({MaxThreads(), kernel_dim_ * group_ * out_spatial_});
  param_diff_buffer_.Reshape({ReductionSlots(), weight_count + num_output_});
  float* cols = col_buffer_.mutable_cpu_data();
  float* accs = param_diff_buffer_.mutable_cpu_data();
  const int64_t acc_size = param_diff_buffer_.count(1);
  std::fill(accs, accs + param_diff_buffer_.count(), 0.f);
  for (size_t i = 0; i < top.size(); ++i) {
    const float* dy = top[i]->cpu_diff();
    if (weight_grad || bias_grad) {
      const float* x = bottom[i]->cpu_data();
      ParallelSlots(num, 1, [&](int64_t slot, int64_t begin, int64_t end, int t) {
        float* acc = accs + slot * acc_size;
        for (int64_t n = begin; n < end; ++n) {
          if (bias_grad) backward_cpu_bias(acc + weight_count, dy + n * top_dim_);
          // dW += x_n * im2col(dy_n)^T: the top diff is the conv input here
          if (weight_grad)
            weight_cpu_gemm(dy + n * top_dim_, x + n * bottom_dim_, acc,
                            cols + t * col_buffer_.count(1));
        }
      });
    }
    if (propagate_down[i]) {
      float* dx = bottom[i]->mutable_cpu_diff();
      ParallelFor(num, [&](int64_t n, int t) {
        // dx_n = W im2col(dy_n): Convolution's forward of dy_n, no bias
        forward_cpu_gemm(dy + n * top_dim_, w, dx + n * bottom_dim_, cols + t * col_buffer_.count(1));
      });
    }
  }
  const int64_t slots = SlotCount(num, 1);
  for (int64_t s = 0; s < slots; ++s) {
    if (weight_grad) cpu_axpy(weight_count, 1.f, accs + s * acc_size, blobs_[0]->mutable_cpu_diff());
    if (bias_grad)
      cpu_axpy(num_output_, 1.f, accs + s * acc_size + weight_count, blobs_[1]->mutable_cpu_diff());
  }
}

}  // namespace augdrop
