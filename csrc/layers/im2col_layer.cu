// Im2col on the GPU (Caffe's im2col_layer.cu): 2-d, the whole batch in one im2col.cu launch,
// each image's columns stacked as the CPU path lays them out; N-d, image by image.
#include "layers/im2col_layer.hpp"

namespace augdrop {

void Im2colLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  if (nd_) {
    for (int64_t n = 0; n < bottom[0]->shape(0); ++n)
      im2col_nd_gpu(bottom[0]->gpu_data() + n * in_dim, nd_geom_,
                    top[0]->mutable_gpu_data() + n * out_dim);
    return;
  }
  const int64_t hw = geom_.out_h() * geom_.out_w();
  im2col_gpu_batched(bottom[0]->gpu_data(), geom_, top[0]->mutable_gpu_data(), hw,
                     bottom[0]->shape(0), in_dim, out_dim);
}

void Im2colLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  if (nd_) {
    for (int64_t n = 0; n < bottom[0]->shape(0); ++n)
      col2im_nd_gpu(top[0]->gpu_diff() + n * out_dim, nd_geom_,
                    bottom[0]->mutable_gpu_diff() + n * in_dim);
    return;
  }
  const int64_t hw = geom_.out_h() * geom_.out_w();
  col2im_gpu_batched(top[0]->gpu_diff(), geom_, bottom[0]->mutable_gpu_diff(), hw,
                     bottom[0]->shape(0), in_dim, out_dim);
}

}  // namespace augdrop
