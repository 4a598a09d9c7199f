// Im2col (Caffe's im2col_layer.cpp): each image's convolution columns as a blob, with
// convolution_param's kernel, pad, stride and dilation (read as Convolution reads them).
// bottom: (N, C, H, W); top: (N, C k_h k_w, H_out, W_out), H_out as Convolution's;
// top[n][(c k_h + i) k_w + j][y][x] = bottom[n][c][y s_h - p_h + i d_h][x s_w - p_w + j d_w]
// (0 outside the image). Backward is col2im: each pixel's diff sums the entries it went to.
// N-d bottoms (N, C, d_1 ... d_k) likewise: top (N, C prod(k), out_1 ... out_k).
#pragma once

#include "layers/layer.hpp"
#include "math/im2col.hpp"
#include "math/im2col_nd.hpp"

namespace augdrop {

class Im2colLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Im2col"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

 private:
  bool nd_ = false;  // not a 4-d bottom
  ConvGeometry geom_{};
  NdGeometry nd_geom_{};
};

}  // namespace augdrop
