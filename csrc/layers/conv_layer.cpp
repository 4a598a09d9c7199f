#include "layers/conv_layer.hpp"

#include <algorithm>

#include "core/filler.hpp"
#include "core/parallel.hpp"
#include "math/implicit_gemm.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// Caffe's repeated kernel_size/pad/stride/dilation (one value for both axes, or one per axis)
// or the explicit kernel_h/kernel_w, pad_h/pad_w, stride_h/stride_w fields.
void ReadPair(const Params& p, const std::string& field, const std::string& prefix, int64_t def,
              int64_t* h, int64_t* w) {
  const std::string fh = prefix + "_h", fw = prefix + "_w";
  if (p.has(fh) || p.has(fw)) {
    AD_CHECK(p.count(field) == 0, "either " << field << " or " << fh << "/" << fw << ", not both");
    AD_CHECK(p.has(fh) && p.has(fw), fh << " and " << fw << " must be given together");
    *h = p.get_int(fh, def);
    *w = p.get_int(fw, def);
    return;
  }
  const std::vector<int64_t> v = p.get_ints(field);
  AD_CHECK(v.size() <= 2, field << " is given " << v.size()
                                << " times; only 2-d convolution is supported");
  *h = v.empty() ? def : v[0];
  *w = v.empty() ? def : v.back();
}

}  // namespace

void ConvolutionLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("convolution_param");
  AD_CHECK(p.get_int("axis", 1) == 1, "only axis 1 (NCHW) is supported");
  AD_CHECK(bottom[0]->num_axes() == 4, "Convolution needs a 4-d bottom (N, C, H, W), got "
                                           << bottom[0]->shape_string());
  ReadPair(p, "kernel_size", "kernel", 0, &geom_.kernel_h, &geom_.kernel_w);
  AD_CHECK(geom_.kernel_h > 0 && geom_.kernel_w > 0, "kernel size must be positive");
  ReadPair(p, "pad", "pad", 0, &geom_.pad_h, &geom_.pad_w);
  ReadPair(p, "stride", "stride", 1, &geom_.stride_h, &geom_.stride_w);
  AD_CHECK(geom_.stride_h > 0 && geom_.stride_w > 0, "stride must be positive");
  AD_CHECK(!p.has("dilation_h") && !p.has("dilation_w"), "use dilation, not dilation_h/_w");
  ReadPair(p, "dilation", "dilation", 1, &geom_.dilation_h, &geom_.dilation_w);
  AD_CHECK(geom_.dilation_h > 0 && geom_.dilation_w > 0, "dilation must be positive");
  AD_CHECK(p.has("num_output"), "convolution_param.num_output is required");
  num_output_ = p.get_int("num_output", 0);
  AD_CHECK(num_output_ > 0, "num_output must be positive");
  group_ = p.get_int("group", 1);
  bias_term_ = p.get_bool("bias_term", true);
  const std::string engine = p.get_string("engine", "DEFAULT");
  AD_CHECK(engine == "DEFAULT" || engine == "CAFFE" || engine == "CUDNN",
           "convolution_param.engine " << engine << " is not DEFAULT, CAFFE or CUDNN");
  caffe_engine_ = engine == "CAFFE";  // CUDNN: no cuDNN here; the fastest CPU engine stands in
  const int64_t channels = bottom[0]->shape(1);
  AD_CHECK(group_ > 0 && channels % group_ == 0 && num_output_ % group_ == 0,
           "group " << group_ << " must divide the input channels (" << channels
                    << ") and num_output (" << num_output_ << ")");
  blobs_.clear();
  blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{
      num_output_, channels / group_, geom_.kernel_h, geom_.kernel_w}));
  FillBlob(p.get_message("weight_filler"), blobs_[0].get());
  if (bias_term_) {
    blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{num_output_}));
    FillBlob(p.get_message("bias_filler"), blobs_[1].get());
  }
  param_propagate_down_.assign(blobs_.size(), true);
}

void ConvolutionLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  for (size_t i = 0; i < bottom.size(); ++i) {
    AD_CHECK(bottom[i]->num_axes() == 4 && bottom[i]->shape() == bottom[0]->shape(),
             "all bottoms must have the same 4-d shape");
  }
  const int64_t channels = bottom[0]->shape(1);
  AD_CHECK(channels == blobs_[0]->shape(1) * group_,
           "bottom has " << channels << " channels, the weights expect "
                         << blobs_[0]->shape(1) * group_);
  geom_.channels = channels;
  geom_.height = bottom[0]->shape(2);
  geom_.width = bottom[0]->shape(3);
  const int64_t out_h = geom_.out_h(), out_w = geom_.out_w();
  AD_CHECK(out_h > 0 && out_w > 0, "kernel larger than the padded input " << bottom[0]->shape_string());
  out_spatial_ = out_h * out_w;
  kernel_dim_ = channels / group_ * geom_.kernel_h * geom_.kernel_w;
  const int64_t num = bottom[0]->shape(0);
  for (size_t i = 0; i < top.size(); ++i) top[i]->Reshape({num, num_output_, out_h, out_w});
  ReshapeImplicit();  // decides implicit_
  if (implicit_) {
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
    shifted_buffer_.Reshape({threads_, round16(ShiftedSize(geom_))});
    shifted_diff_buffer_.Reshape({threads_, flipped_backward_ ? round16(ShiftedSize(back_geom_)) : 0});
    top_diff_t_buffer_.Reshape({threads_, group_ * out_spatial_ * grad_ld_});
    packed_weights_.Reshape({2 * weight_count});
    col_buffer_.Reshape({threads_, flipped_backward_ ? 0 : round16(kernel_dim_ * group_ * out_spatial_)});
    out_buffer_.Reshape({0});
    weight_diff_buffer_.Reshape({slots_, round16(group_ * kernel_dim_ * grad_ld_ + num_output_)});
  } else {
    const int64_t pixels = chunk_ * out_spatial_;
    col_buffer_.Reshape({threads_, round16(kernel_dim_ * group_ * pixels)});
    out_buffer_.Reshape({threads_, round16(num_output_ * pixels)});
    weight_diff_buffer_.Reshape({slots_, round16(weight_count + num_output_)});
  }
}

void ConvolutionLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  if (implicit_) {
    ForwardImplicit(bottom, top);
  } else {
    ForwardGemm(bottom, top);
  }
}

void ConvolutionLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                    const BlobVec& bottom) {
  if (implicit_) {
    BackwardImplicit(top, propagate_down, bottom);
  } else {
    BackwardGemm(top, propagate_down, bottom);
  }
}

void ConvolutionLayer::ReduceGradients(int64_t slots, bool weight_grad, bool bias_grad) {
  const float* accs = weight_diff_buffer_.cpu_data();
  const int64_t acc_size = weight_diff_buffer_.count(1), weight_count = blobs_[0]->count();
  const int64_t per_group = num_output_ / group_, ld = grad_ld_;
  const int64_t weight_part = implicit_ ? group_ * kernel_dim_ * ld : weight_count;
  if (weight_grad) {
    float* dw = blobs_[0]->mutable_cpu_diff();
    for (int64_t s = 0; s < slots; ++s) {
      const float* acc = accs + s * acc_size;
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

}  // namespace augdrop
