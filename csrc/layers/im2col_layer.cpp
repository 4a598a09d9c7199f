#include "layers/im2col_layer.hpp"

#include "core/parallel.hpp"
#include "layers/base_conv_layer.hpp"

namespace augdrop {

void Im2colLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("convolution_param");
  AD_CHECK(p.get_int("axis", 1) == 1, "only axis 1 (N, C, spatial...) is supported");
  AD_CHECK(bottom[0]->num_axes() >= 3, "Im2col needs a bottom (N, C, spatial...), got "
                                           << bottom[0]->shape_string());
  nd_ = bottom[0]->num_axes() != 4;
  if (nd_) {
    nd_geom_ = ReadNdGeometry(p, bottom[0]->num_axes() - 2);
  } else {
    geom_ = ReadConvGeometry(p);
  }
}

void Im2colLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const int axes = nd_ ? nd_geom_.axes : 2;
  AD_CHECK(bottom[0]->num_axes() == axes + 2,
           "bottom must stay " << axes + 2 << "-d, got " << bottom[0]->shape_string());
  std::vector<int64_t> shape{bottom[0]->shape(0), bottom[0]->shape(1)};
  if (nd_) {
    nd_geom_.channels = bottom[0]->shape(1);
    for (int i = 0; i < axes; ++i) nd_geom_.size[i] = bottom[0]->shape(2 + i);
    shape[1] *= nd_geom_.kernel_count();
    for (int i = 0; i < axes; ++i) shape.push_back(nd_geom_.out(i));
  } else {
    geom_.channels = bottom[0]->shape(1);
    geom_.height = bottom[0]->shape(2);
    geom_.width = bottom[0]->shape(3);
    shape[1] *= geom_.kernel_h * geom_.kernel_w;
    shape.push_back(geom_.out_h());
    shape.push_back(geom_.out_w());
  }
  for (size_t i = 2; i < shape.size(); ++i)
    AD_CHECK(shape[i] > 0, "kernel larger than the padded input " << bottom[0]->shape_string());
  top[0]->Reshape(shape);
}

void Im2colLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t hw = top[0]->count(2);
  ParallelFor(bottom[0]->shape(0), [&](int64_t n, int) {
    if (nd_) {
      im2col_nd_cpu(x + n * in_dim, nd_geom_, y + n * out_dim);
    } else {
      im2col_cpu(x + n * in_dim, geom_, y + n * out_dim, hw);
    }
  });
}

void Im2colLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t hw = top[0]->count(2);
  ParallelFor(bottom[0]->shape(0), [&](int64_t n, int) {
    if (nd_) {
      col2im_nd_cpu(dy + n * out_dim, nd_geom_, dx + n * in_dim);
    } else {
      col2im_cpu(dy + n * out_dim, geom_, dx + n * in_dim, hw);
    }
  });
}

}  // namespace augdrop
