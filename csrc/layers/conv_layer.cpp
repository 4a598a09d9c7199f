#include "layers/conv_layer.hpp"

#include <algorithm>

#include "core/parallel.hpp"
#include "math/implicit_gemm.hpp"
#include "math/math_functions.hpp"
#include "math/winograd.hpp"

namespace augdrop {

void ConvolutionLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  BaseConvolutionLayer::LayerSetUp(bottom, top);
  // CUDNN: no cuDNN here; the fastest CPU engine stands in
  caffe_engine_ = layer_param_.get_message("convolution_param").get_string("engine", "DEFAULT") == "CAFFE";
}

void ConvolutionLayer::compute_output_shape(int64_t in_h, int64_t in_w, int64_t* out_h,
                                            int64_t* out_w) const {
  ConvGeometry g = geom_;
  g.height = in_h;
  g.width = in_w;
  *out_h = g.out_h();
  *out_w = g.out_w();
}

void ConvolutionLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  BaseConvolutionLayer::Reshape(bottom, top);
  const int64_t num = bottom[0]->shape(0);
  if (nd_) {
    implicit_ = false;  // the N-d path: Caffe's recipe, image by image
  } else {
    ReshapeImplicit();  // decides implicit_
  }
  if (implicit_ || nd_) {
    chunk_ = 1;
  } else {
    // Images per chunk: enough for a wide GEMM, few enough that a thread's columns stay in
    // its L2 cache (about 256 KB).
    const int64_t budget = int64_t(64) << 10;  // floats
    const int64_t per_image = std::max(kernel_dim_ * group_, num_output_) * out_spatial_;
    chunk_ = std::max<int64_t>(1, std::min<int64_t>(std::max<int64_t>(num, 1), budget / per_image));
  }
  threads_ = 0;
  EnsureThreadBuffers();
}

void ConvolutionLayer::EnsureThreadBuffers() {
  if (threads_ == MaxThreads() && slots_ == ReductionSlots()) return;
  threads_ = MaxThreads();
  slots_ = ReductionSlots();
  const auto round16 = [](int64_t n) { return (n + 15) / 16 * 16; };  // 64-byte aligned rows
  const int64_t weight_count = blobs_[0]->count();
  if (implicit_) {
    // WINOGRAD with its own weight gradient never reads the shifted copy or the transposed
    // top diff.
    const bool implicit_passes = !winograd_ || !winograd_weight_grad_;
    shifted_buffer_.Reshape({threads_, implicit_passes ? round16(ShiftedSize(geom_)) : 0});
    const bool shifted_diff = flipped_backward_ && !winograd_backward_;
    shifted_diff_buffer_.Reshape({threads_, shifted_diff ? round16(ShiftedSize(back_geom_)) : 0});
    top_diff_t_buffer_.Reshape({threads_, implicit_passes ? group_ * out_spatial_ * grad_ld_ : 0});
    packed_weights_.Reshape({2 * weight_count});
    const int64_t per_group = num_output_ / group_;
    const int64_t in_group = wino_geom_.channels;
    winograd_filters_.Reshape(
        {winograd_ ? 2 * group_ * WinogradFilterSize(geom_.kernel_h, per_group, in_group) : 0});
    const int64_t scratch =
        std::max(winograd_ ? WinogradScratchSize(wino_geom_, per_group) : 0,
                 winograd_backward_ ? WinogradScratchSize(wino_back_geom_, in_group) : 0);
    winograd_scratch_.Reshape({threads_, round16(scratch)});
    col_buffer_.Reshape({threads_, flipped_backward_ ? 0 : round16(kernel_dim_ * group_ * out_spatial_)});
    out_buffer_.Reshape({0});
    weight_diff_buffer_.Reshape({slots_, round16(WeightAccSize() + num_output_)});
  } else {
    const int64_t pixels = chunk_ * out_spatial_;
    col_buffer_.Reshape({threads_, round16(kernel_dim_ * group_ * pixels)});
    out_buffer_.Reshape({threads_, round16(num_output_ * pixels)});
    weight_diff_buffer_.Reshape({slots_, round16(weight_count + num_output_)});
  }
}

void ConvolutionLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  if (nd_) {
    ForwardNd(bottom, top);
  } else if (implicit_) {
    ForwardImplicit(bottom, top);
  } else {
    ForwardGemm(bottom, top);
  }
}

void ConvolutionLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                    const BlobVec& bottom) {
  if (nd_) {
    BackwardNd(top, propagate_down, bottom);
  } else if (implicit_) {
    BackwardImplicit(top, propagate_down, bottom);
  } else {
    BackwardGemm(top, propagate_down, bottom);
  }
}

int64_t ConvolutionLayer::WeightAccSize() const {
  return winograd_weight_grad_ ? WinogradWeightGradSize(geom_.kernel_h, geom_.channels, grad_ld_)
                               : group_ * kernel_dim_ * grad_ld_;
}

void ConvolutionLayer::ReduceGradients(int64_t slots, bool weight_grad, bool bias_grad) {
  const float* accs = weight_diff_buffer_.cpu_data();
  const int64_t acc_size = weight_diff_buffer_.count(1), weight_count = blobs_[0]->count();
  const int64_t per_group = num_output_ / group_, ld = grad_ld_;
  const int64_t weight_part = implicit_ ? WeightAccSize() : weight_count;
  if (weight_grad) {
    float* dw = blobs_[0]->mutable_cpu_diff();
    for (int64_t s = 0; s < slots; ++s) {
      const float* acc = accs + s * acc_size;
      if (winograd_weight_grad_) {  // acc holds dU; dw += G^T dU G, slot by slot
        WinogradAddWeightGrad(geom_.kernel_h, num_output_, geom_.channels, ld, acc, dw,
                              kernel_dim_, geom_.kernel_h * geom_.kernel_w);
        continue;
      }
      if (!implicit_) {
        cpu_axpy(weight_count, 1.f, acc, dw);
        continue;
      }
      for (int64_t g = 0; g < group_; ++g)  // acc holds each group's gradient transposed
        for (int64_t m = 0; m < per_group; ++m)
          for (int64_t k = 0; k < kernel_dim_; ++k)
            dw[(g * per_group + m) * kernel_dim_ + k] += acc[(g * kernel_dim_ + k) * ld + m];
    }
  }
  if (bias_grad) {
    float* db = blobs_[1]->mutable_cpu_diff();
    for (int64_t s = 0; s < slots; ++s) cpu_axpy(num_output_, 1.f, accs + s * acc_size + weight_part, db);
  }
}

void ConvolutionLayer::ForwardGemm(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->cpu_data();
  const float* b = bias_term_ ? blobs_[1]->cpu_data() : nullptr;
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t per_group = num_output_ / group_, hw = out_spatial_;
  const int64_t chunks = (num + chunk_ - 1) / chunk_;
  EnsureThreadBuffers();
  float* cols = col_buffer_.mutable_cpu_data();
  float* outs = out_buffer_.mutable_cpu_data();
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->cpu_data();
    float* y = top[i]->mutable_cpu_data();
    ParallelFor(chunks, [&](int64_t chunk, int t) {
      float* col = cols + t * col_buffer_.count(1);
      float* out = outs + t * out_buffer_.count(1);
      const int64_t n0 = chunk * chunk_, count = std::min(chunk_, num - n0), L = count * hw;
      for (int64_t k = 0; k < count; ++k) im2col_cpu(x + (n0 + k) * in_dim, geom_, col + k * hw, L);
      for (int64_t g = 0; g < group_; ++g) {
        // out_g (C_out/g, L) = W_g (C_out/g, kernel_dim) * col_g (kernel_dim, L)
        cpu_gemm(Trans::No, Trans::No, per_group, L, kernel_dim_, 1.f,
                 w + g * per_group * kernel_dim_, col + g * kernel_dim_ * L, 0.f,
                 out + g * per_group * L);
      }
      for (int64_t k = 0; k < count; ++k) {
        for (int64_t c = 0; c < num_output_; ++c) {
          const float* src = out + c * L + k * hw;
          float* dst = y + (n0 + k) * out_dim + c * hw;
          const float bias = b ? b[c] : 0.f;
          for (int64_t s = 0; s < hw; ++s) dst[s] = src[s] + bias;
        }
      }
    });
  }
}

void ConvolutionLayer::BackwardGemm(const BlobVec& top, const std::vector<bool>& propagate_down,
                                    const BlobVec& bottom) {
  const float* w = blobs_[0]->cpu_data();
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t per_group = num_output_ / group_, hw = out_spatial_;
  const int64_t chunks = (num + chunk_ - 1) / chunk_;
  EnsureThreadBuffers();
  const int64_t weight_count = blobs_[0]->count();
  const int64_t acc_size = weight_diff_buffer_.count(1);
  float* accs = weight_diff_buffer_.mutable_cpu_data();
  std::fill(accs, accs + weight_diff_buffer_.count(), 0.f);
  float* cols = col_buffer_.mutable_cpu_data();
  float* outs = out_buffer_.mutable_cpu_data();
  for (size_t i = 0; i < top.size(); ++i) {
    if (!weight_grad && !bias_grad && !propagate_down[i]) continue;
    const float* dy = top[i]->cpu_diff();
    const float* x = bottom[i]->cpu_data();
    float* dx = propagate_down[i] ? bottom[i]->mutable_cpu_diff() : nullptr;
    // One chunk of images: its top diff, the bias and weight gradients into the slot's
    // accumulator dw (then db), its bottom diff.
    const auto backward_chunk = [&](int64_t chunk, float* dw, int t) {
      float* col = cols + t * col_buffer_.count(1);
      float* dyb = outs + t * out_buffer_.count(1);
      float* db = dw + weight_count;
      const int64_t n0 = chunk * chunk_, count = std::min(chunk_, num - n0), L = count * hw;
      // dyb (C_out, L): the chunk's top diff, channel-major.
      for (int64_t k = 0; k < count; ++k)
        for (int64_t c = 0; c < num_output_; ++c)
          std::copy_n(dy + (n0 + k) * out_dim + c * hw, hw, dyb + c * L + k * hw);
      if (bias_grad) {
        for (int64_t c = 0; c < num_output_; ++c) {
          float s = 0;
          for (int64_t j = 0; j < L; ++j) s += dyb[c * L + j];
          db[c] += s;
        }
      }
      if (weight_grad) {
        for (int64_t k = 0; k < count; ++k) im2col_cpu(x + (n0 + k) * in_dim, geom_, col + k * hw, L);
        for (int64_t g = 0; g < group_; ++g) {
          // dW_g (C_out/g, kernel_dim) += dy_g (C_out/g, L) * col_g^T (L, kernel_dim)
          cpu_gemm(Trans::No, Trans::Yes, per_group, kernel_dim_, L, 1.f, dyb + g * per_group * L,
                   col + g * kernel_dim_ * L, 1.f, dw + g * per_group * kernel_dim_);
        }
      }
      if (dx) {
        for (int64_t g = 0; g < group_; ++g) {
          // col_g (kernel_dim, L) = W_g^T (kernel_dim, C_out/g) * dy_g (C_out/g, L)
          cpu_gemm(Trans::Yes, Trans::No, kernel_dim_, L, per_group, 1.f,
                   w + g * per_group * kernel_dim_, dyb + g * per_group * L, 0.f,
                   col + g * kernel_dim_ * L);
        }
        for (int64_t k = 0; k < count; ++k) col2im_cpu(col + k * hw, geom_, dx + (n0 + k) * in_dim, L);
      }
    };
    ParallelSlots(chunks, 1, [&](int64_t slot, int64_t begin, int64_t end, int t) {
      for (int64_t chunk = begin; chunk < end; ++chunk) backward_chunk(chunk, accs + slot * acc_size, t);
    });
  }
  ReduceGradients(SlotCount(chunks, 1), weight_grad, bias_grad);
}

void ConvolutionLayer::ForwardNd(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->cpu_data();
  const float* b = bias_term_ ? blobs_[1]->cpu_data() : nullptr;
  EnsureThreadBuffers();
  float* cols = col_buffer_.mutable_cpu_data();
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->cpu_data();
    float* y = top[i]->mutable_cpu_data();
    ParallelFor(bottom[i]->shape(0), [&](int64_t n, int t) {
      forward_cpu_gemm(x + n * bottom_dim_, w, y + n * top_dim_, cols + t * col_buffer_.count(1));
      if (b) forward_cpu_bias(y + n * top_dim_, b);
    });
  }
}

void ConvolutionLayer::BackwardNd(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  const float* w = blobs_[0]->cpu_data();
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  const int64_t num = bottom[0]->shape(0), weight_count = blobs_[0]->count();
  EnsureThreadBuffers();
  float* cols = col_buffer_.mutable_cpu_data();
  float* accs = weight_diff_buffer_.mutable_cpu_data();
  const int64_t acc_size = weight_diff_buffer_.count(1);
  std::fill(accs, accs + weight_diff_buffer_.count(), 0.f);
  for (size_t i = 0; i < top.size(); ++i) {
    const float* dy = top[i]->cpu_diff();
    if (weight_grad || bias_grad) {
      const float* x = bottom[i]->cpu_data();
      ParallelSlots(num, 1, [&](int64_t slot, int64_t begin, int64_t end, int t) {
        float* acc = accs + slot * acc_size;
        for (int64_t n = begin; n < end; ++n) {
          if (bias_grad) backward_cpu_bias(acc + weight_count, dy + n * top_dim_);
          if (weight_grad)
            weight_cpu_gemm(x + n * bottom_dim_, dy + n * top_dim_, acc, cols + t * col_buffer_.count(1));
        }
      });
    }
    if (propagate_down[i]) {
      float* dx = bottom[i]->mutable_cpu_diff();
      ParallelFor(num, [&](int64_t n, int t) {
        backward_cpu_gemm(dy + n * top_dim_, w, dx + n * bottom_dim_, cols + t * col_buffer_.count(1));
      });
    }
  }
  ReduceGradients(SlotCount(num, 1), weight_grad, bias_grad);
}

}  // namespace augdrop
