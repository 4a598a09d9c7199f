#include "layers/im2col_layer.hpp"

#include "core/parallel.hpp"
#include "layers/base_conv_layer.hpp"

namespace augdrop {

void Im2colLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("convolution_param");
  CheckTwoSpatialAxes(p, *bottom[0], type());
  geom_ = ReadConvGeometry(p);
}

void Im2colLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  CheckTwoSpatialAxes(layer_param_.get_message("convolution_param"), *bottom[0], type());
  geom_.channels = bottom[0]->shape(1);
  geom_.height = bottom[0]->shape(2);
  geom_.width = bottom[0]->shape(3);
  AD_CHECK(geom_.out_h() > 0 && geom_.out_w() > 0,
           "kernel larger than the padded input " << bottom[0]->shape_string());
  top[0]->Reshape({bottom[0]->shape(0), geom_.channels * geom_.kernel_h * geom_.kernel_w,
                   geom_.out_h(), geom_.out_w()});
}

void Im2colLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t hw = geom_.out_h() * geom_.out_w();
  ParallelFor(bottom[0]->shape(0), [&](int64_t n, int) {
    im2col_cpu(x + n * in_dim, geom_, y + n * out_dim, hw);
  });
}

void Im2colLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t hw = geom_.out_h() * geom_.out_w();
  ParallelFor(bottom[0]->shape(0), [&](int64_t n, int) {
    col2im_cpu(dy + n * out_dim, geom_, dx + n * in_dim, hw);
  });
}

}  // namespace augdrop
