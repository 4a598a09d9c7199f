#include "layers/conv_layer.hpp"

#include "core/filler.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// Caffe's repeated kernel_size/pad/stride/dilation (one value for both axes, or one per axis)
// or the explicit _h/_w fields.
void ReadPair(const Params& p, const std::string& field, int64_t def, int64_t* h, int64_t* w) {
  if (p.has(field + "_h") || p.has(field + "_w")) {
    AD_CHECK(p.count(field) == 0, "either " << field << " or " << field << "_h/_w, not both");
    AD_CHECK(p.has(field + "_h") && p.has(field + "_w"),
             field << "_h and " << field << "_w must be given together");
    *h = p.get_int(field + "_h", def);
    *w = p.get_int(field + "_w", def);
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
  ReadPair(p, "kernel_size", 0, &geom_.kernel_h, &geom_.kernel_w);
  AD_CHECK(geom_.kernel_h > 0 && geom_.kernel_w > 0, "kernel size must be positive");
  ReadPair(p, "pad", 0, &geom_.pad_h, &geom_.pad_w);
  ReadPair(p, "stride", 1, &geom_.stride_h, &geom_.stride_w);
  AD_CHECK(geom_.stride_h > 0 && geom_.stride_w > 0, "stride must be positive");
  AD_CHECK(!p.has("dilation_h") && !p.has("dilation_w"), "use dilation, not dilation_h/_w");
  ReadPair(p, "dilation", 1, &geom_.dilation_h, &geom_.dilation_w);
  AD_CHECK(geom_.dilation_h > 0 && geom_.dilation_w > 0, "dilation must be positive");
  AD_CHECK(p.has("num_output"), "convolution_param.num_output is required");
  num_output_ = p.get_int("num_output", 0);
  AD_CHECK(num_output_ > 0, "num_output must be positive");
  group_ = p.get_int("group", 1);
  bias_term_ = p.get_bool("bias_term", true);
  const int64_t channels = bottom[0]->shape(1);
  AD_CHECK(group_ > 0 && channels % group_ == 0 && num_output_ % group_ == 0,
           "group " << group_ << " must divide the input channels (" << channels
                    << ") and num_output (" << num_output_ << ")");
  is_1x1_ = geom_.kernel_h == 1 && geom_.kernel_w == 1 && geom_.stride_h == 1 &&
            geom_.stride_w == 1 && geom_.pad_h == 0 && geom_.pad_w == 0;
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
  for (size_t i = 0; i < top.size(); ++i)
    top[i]->Reshape({bottom[0]->shape(0), num_output_, out_h, out_w});
  if (!is_1x1_) col_buffer_.Reshape({kernel_dim_ * group_, out_spatial_});
}

void ConvolutionLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->cpu_data();
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t out_per_group = num_output_ / group_;
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->cpu_data();
    float* y = top[i]->mutable_cpu_data();
    for (int64_t n = 0; n < num; ++n) {
      const float* col = x + n * in_dim;
      if (!is_1x1_) {
        im2col_cpu(x + n * in_dim, geom_, col_buffer_.mutable_cpu_data());
        col = col_buffer_.cpu_data();
      }
      float* out = y + n * out_dim;
      for (int64_t g = 0; g < group_; ++g) {
        // out_g (C_out/g, HW) = W_g (C_out/g, kernel_dim) * col_g (kernel_dim, HW)
        cpu_gemm(Trans::No, Trans::No, out_per_group, out_spatial_, kernel_dim_, 1.f,
                 w + g * out_per_group * kernel_dim_, col + g * kernel_dim_ * out_spatial_, 0.f,
                 out + g * out_per_group * out_spatial_);
      }
      if (bias_term_) {
        const float* b = blobs_[1]->cpu_data();
        for (int64_t c = 0; c < num_output_; ++c) {
          float* plane = out + c * out_spatial_;
          for (int64_t s = 0; s < out_spatial_; ++s) plane[s] += b[c];
        }
      }
    }
  }
}

void ConvolutionLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                    const BlobVec& bottom) {
  const float* w = blobs_[0]->cpu_data();
  float* dw = blobs_[0]->mutable_cpu_diff();
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t out_per_group = num_output_ / group_;
  for (size_t i = 0; i < top.size(); ++i) {
    const float* dy = top[i]->cpu_diff();
    if (bias_term_ && param_propagate_down(1)) {
      float* db = blobs_[1]->mutable_cpu_diff();
      for (int64_t n = 0; n < num; ++n)
        for (int64_t c = 0; c < num_output_; ++c) {
          const float* plane = dy + n * out_dim + c * out_spatial_;
          float s = 0;
          for (int64_t k = 0; k < out_spatial_; ++k) s += plane[k];
          db[c] += s;
        }
    }
    if (!param_propagate_down(0) && !propagate_down[i]) continue;
    const float* x = bottom[i]->cpu_data();
    float* dx = propagate_down[i] ? bottom[i]->mutable_cpu_diff() : nullptr;
    for (int64_t n = 0; n < num; ++n) {
      const float* dout = dy + n * out_dim;
      if (param_propagate_down(0)) {
        const float* col = x + n * in_dim;
        if (!is_1x1_) {
          im2col_cpu(x + n * in_dim, geom_, col_buffer_.mutable_cpu_data());
          col = col_buffer_.cpu_data();
        }
        for (int64_t g = 0; g < group_; ++g) {
          // dW_g (C_out/g, kernel_dim) += dy_g (C_out/g, HW) * col_g^T (HW, kernel_dim)
          cpu_gemm(Trans::No, Trans::Yes, out_per_group, kernel_dim_, out_spatial_, 1.f,
                   dout + g * out_per_group * out_spatial_, col + g * kernel_dim_ * out_spatial_,
                   1.f, dw + g * out_per_group * kernel_dim_);
        }
      }
      if (dx) {
        float* col = is_1x1_ ? dx + n * in_dim : col_buffer_.mutable_cpu_data();
        for (int64_t g = 0; g < group_; ++g) {
          // col_g (kernel_dim, HW) = W_g^T (kernel_dim, C_out/g) * dy_g (C_out/g, HW)
          cpu_gemm(Trans::Yes, Trans::No, kernel_dim_, out_spatial_, out_per_group, 1.f,
                   w + g * out_per_group * kernel_dim_, dout + g * out_per_group * out_spatial_,
                   0.f, col + g * kernel_dim_ * out_spatial_);
        }
        if (!is_1x1_) col2im_cpu(col, geom_, dx + n * in_dim);
      }
    }
  }
}

}  // namespace augdrop
