#include "layers/base_conv_layer.hpp"

#include "core/filler.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// Caffe's repeated field (one value for both axes, or one per axis) or its explicit _h/_w pair.
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

ConvGeometry ReadConvGeometry(const Params& p) {
  ConvGeometry g{};
  ReadPair(p, "kernel_size", "kernel", 0, &g.kernel_h, &g.kernel_w);
  AD_CHECK(g.kernel_h > 0 && g.kernel_w > 0, "kernel size must be positive");
  ReadPair(p, "pad", "pad", 0, &g.pad_h, &g.pad_w);
  AD_CHECK(g.pad_h >= 0 && g.pad_w >= 0, "pad must not be negative");
  ReadPair(p, "stride", "stride", 1, &g.stride_h, &g.stride_w);
  AD_CHECK(g.stride_h > 0 && g.stride_w > 0, "stride must be positive");
  AD_CHECK(!p.has("dilation_h") && !p.has("dilation_w"), "use dilation, not dilation_h/_w");
  ReadPair(p, "dilation", "dilation", 1, &g.dilation_h, &g.dilation_w);
  AD_CHECK(g.dilation_h > 0 && g.dilation_w > 0, "dilation must be positive");
  return g;
}

NdGeometry ReadNdGeometry(const Params& p, int axes) {
  AD_CHECK(axes >= 1 && axes <= kMaxNdAxes,
           "convolution over " << axes << " spatial axes; from 1 to " << kMaxNdAxes << " are supported");
  for (const char* f : {"kernel_h", "kernel_w", "pad_h", "pad_w", "stride_h", "stride_w"})
    AD_CHECK(!p.has(f), f << " can only be used for 2-d convolution");
  NdGeometry g;
  g.axes = axes;
  // def < 0: required
  const auto read = [&](const char* field, int64_t def, int64_t* out, int64_t min) {
    const std::vector<int64_t> v = p.get_ints(field);
    AD_CHECK(v.size() <= 1 || int(v.size()) == axes,
             field << " must be given once, or once per spatial axis (given " << v.size()
                   << " times; " << axes << " spatial axes)");
    AD_CHECK(def >= 0 || !v.empty(), field << " is required");
    for (int i = 0; i < axes; ++i) {
      out[i] = v.empty() ? def : v[v.size() == 1 ? 0 : i];
      AD_CHECK(out[i] >= min, field << " must be at least " << min << ", got " << out[i]);
    }
  };
  read("kernel_size", -1, g.kernel, 1);
  read("pad", 0, g.pad, 0);
  read("stride", 1, g.stride, 1);
  read("dilation", 1, g.dilation, 1);
  return g;
}

void BaseConvolutionLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("convolution_param");
  AD_CHECK(p.get_int("axis", 1) == 1, "only axis 1 (N, C, spatial...) is supported");
  AD_CHECK(bottom[0]->num_axes() >= 3, type() << " needs a bottom (N, C, spatial...), got "
                                              << bottom[0]->shape_string());
  nd_ = bottom[0]->num_axes() != 4;
  std::vector<int64_t> kernel;
  if (nd_) {
    nd_geom_ = ReadNdGeometry(p, bottom[0]->num_axes() - 2);
    kernel.assign(nd_geom_.kernel, nd_geom_.kernel + nd_geom_.axes);
  } else {
    geom_ = ReadConvGeometry(p);
    kernel = {geom_.kernel_h, geom_.kernel_w};
  }
  force_nd_im2col_ = p.get_bool("force_nd_im2col", false);
  AD_CHECK(p.has("num_output"), "convolution_param.num_output is required");
  num_output_ = p.get_int("num_output", 0);
  AD_CHECK(num_output_ > 0, "num_output must be positive");
  group_ = p.get_int("group", 1);
  bias_term_ = p.get_bool("bias_term", true);
  const std::string engine = p.get_string("engine", "DEFAULT");
  AD_CHECK(engine == "DEFAULT" || engine == "CAFFE" || engine == "CUDNN",
           "convolution_param.engine " << engine << " is not DEFAULT, CAFFE or CUDNN");
  const int64_t channels = bottom[0]->shape(1);
  AD_CHECK(group_ > 0 && channels % group_ == 0 && num_output_ % group_ == 0,
           "group " << group_ << " must divide the input channels (" << channels
                    << ") and num_output (" << num_output_ << ")");
  conv_in_channels_ = reverse_dimensions() ? num_output_ : channels;
  conv_out_channels_ = reverse_dimensions() ? channels : num_output_;
  std::vector<int64_t> weight_shape{conv_out_channels_, conv_in_channels_ / group_};
  weight_shape.insert(weight_shape.end(), kernel.begin(), kernel.end());
  blobs_.clear();
  blobs_.push_back(std::make_shared<Blob>(weight_shape));
  FillBlob(p.get_message("weight_filler"), blobs_[0].get());
  if (bias_term_) {
    blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{num_output_}));
    FillBlob(p.get_message("bias_filler"), blobs_[1].get());
  }
  param_propagate_down_.assign(blobs_.size(), true);
}

void BaseConvolutionLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const int axes = nd_ ? nd_geom_.axes : 2;
  for (size_t i = 0; i < bottom.size(); ++i) {
    AD_CHECK(bottom[i]->num_axes() == axes + 2 && bottom[i]->shape() == bottom[0]->shape(),
             "all bottoms must have the same " << axes + 2 << "-d shape, got "
                                               << bottom[i]->shape_string());
  }
  const int64_t channels = bottom[0]->shape(1);
  const int64_t expected = reverse_dimensions() ? conv_out_channels_ : conv_in_channels_;
  AD_CHECK(channels == expected,
           "bottom has " << channels << " channels, the weights expect " << expected);
  std::vector<int64_t> top_shape{bottom[0]->shape(0), num_output_};
  int64_t in_pixels = 1, top_pixels = 1;
  if (nd_) {
    NdGeometry& g = nd_geom_;
    for (int i = 0; i < axes; ++i) {
      const int64_t in = bottom[0]->shape(2 + i);
      const int64_t extent = g.dilation[i] * (g.kernel[i] - 1) + 1;
      const int64_t out = reverse_dimensions() ? g.stride[i] * (in - 1) + extent - 2 * g.pad[i]
                                               : (in + 2 * g.pad[i] - extent) / g.stride[i] + 1;
      AD_CHECK(out > 0, "kernel larger than the padded input " << bottom[0]->shape_string());
      g.size[i] = reverse_dimensions() ? out : in;
      top_shape.push_back(out);
      in_pixels *= in;
      top_pixels *= out;
    }
    g.channels = conv_in_channels_;
    kernel_dim_ = conv_in_channels_ / group_ * g.kernel_count();
  } else {
    const int64_t height = bottom[0]->shape(2), width = bottom[0]->shape(3);
    int64_t out_h = 0, out_w = 0;
    compute_output_shape(height, width, &out_h, &out_w);
    AD_CHECK(out_h > 0 && out_w > 0, "kernel larger than the padded input " << bottom[0]->shape_string());
    geom_.channels = conv_in_channels_;
    geom_.height = reverse_dimensions() ? out_h : height;
    geom_.width = reverse_dimensions() ? out_w : width;
    top_shape.push_back(out_h);
    top_shape.push_back(out_w);
    in_pixels = height * width;
    top_pixels = out_h * out_w;
    kernel_dim_ = conv_in_channels_ / group_ * geom_.kernel_h * geom_.kernel_w;
  }
  out_spatial_ = reverse_dimensions() ? in_pixels : top_pixels;
  top_spatial_ = top_pixels;
  for (size_t i = 0; i < top.size(); ++i) top[i]->Reshape(top_shape);
  bottom_dim_ = bottom[0]->count(1);
  top_dim_ = num_output_ * top_spatial_;
}

void BaseConvolutionLayer::Im2colCpu(const float* image, float* columns) const {
  if (nd_) {
    im2col_nd_cpu(image, nd_geom_, columns);
  } else {
    im2col_cpu(image, geom_, columns, out_spatial_);
  }
}

void BaseConvolutionLayer::Col2imCpu(const float* columns, float* image) const {
  if (nd_) {
    col2im_nd_cpu(columns, nd_geom_, image);
  } else {
    col2im_cpu(columns, geom_, image, out_spatial_);
  }
}

void BaseConvolutionLayer::forward_cpu_gemm(const float* input, const float* weights,
                                            float* output, float* col) const {
  const int64_t per_group = conv_out_channels_ / group_, L = out_spatial_;
  Im2colCpu(input, col);
  for (int64_t g = 0; g < group_; ++g) {
    // out_g (C_out/g, L) = W_g (C_out/g, kernel_dim) * col_g (kernel_dim, L)
    cpu_gemm(Trans::No, Trans::No, per_group, L, kernel_dim_, 1.f,
             weights + g * per_group * kernel_dim_, col + g * kernel_dim_ * L, 0.f,
             output + g * per_group * L);
  }
}

void BaseConvolutionLayer::forward_cpu_bias(float* output, const float* bias) const {
  for (int64_t c = 0; c < num_output_; ++c) {
    float* row = output + c * top_spatial_;
    for (int64_t s = 0; s < top_spatial_; ++s) row[s] += bias[c];
  }
}

void BaseConvolutionLayer::backward_cpu_gemm(const float* output, const float* weights,
                                             float* input, float* col) const {
  const int64_t per_group = conv_out_channels_ / group_, L = out_spatial_;
  for (int64_t g = 0; g < group_; ++g) {
    // col_g (kernel_dim, L) = W_g^T (kernel_dim, C_out/g) * out_g (C_out/g, L)
    cpu_gemm(Trans::Yes, Trans::No, kernel_dim_, L, per_group, 1.f,
             weights + g * per_group * kernel_dim_, output + g * per_group * L, 0.f,
             col + g * kernel_dim_ * L);
  }
  Col2imCpu(col, input);
}

void BaseConvolutionLayer::weight_cpu_gemm(const float* input, const float* output,
                                           float* weights, float* col) const {
  const int64_t per_group = conv_out_channels_ / group_, L = out_spatial_;
  Im2colCpu(input, col);
  for (int64_t g = 0; g < group_; ++g) {
    // dW_g (C_out/g, kernel_dim) += out_g (C_out/g, L) * col_g^T (L, kernel_dim)
    cpu_gemm(Trans::No, Trans::Yes, per_group, kernel_dim_, L, 1.f, output + g * per_group * L,
             col + g * kernel_dim_ * L, 1.f, weights + g * per_group * kernel_dim_);
  }
}

void BaseConvolutionLayer::backward_cpu_bias(float* bias, const float* top_diff) const {
  for (int64_t c = 0; c < num_output_; ++c) {
    const float* row = top_diff + c * top_spatial_;
    float s = 0;
    for (int64_t j = 0; j < top_spatial_; ++j) s += row[j];
    bias[c] += s;
  }
}

}  // namespace augdrop
