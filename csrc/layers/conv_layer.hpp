// Convolution (Caffe's conv_layer.cpp; the shared parts in base_conv_layer.hpp). N-d bottoms
// (not 4-d) take Caffe's recipe image by image (ForwardNd). 2-d takes one of three engines:
//  - IMPLICIT (engine DEFAULT or CUDNN, where the geometry fits: whole vectors of output
//    pixels, any stride): an implicit GEMM with this project's kernels, no im2col
//    (math/implicit_gemm.hpp, conv_implicit.cpp); the data gradient as the convolution of the
//    top diff with the flipped, transposed weights, or by col2im where that is cheaper.
//  - WINOGRAD (layers IMPLICIT takes with 3x3 or 5x5 kernels, stride 1, where WinogradPays
//    in conv_implicit.cpp picks it): the forward, the flipped data gradient and the weight
//    gradient by Winograd's F(2x2, 3x3) or F(2x2, 5x5) (math/winograd.hpp).
//  - CAFFE (engine: CAFFE, and any geometry IMPLICIT does not take): Caffe's im2col + BLAS
//    GEMM recipe.
// ForceEngine overrides the choice (a stored run replayed on its own engines).
// DEVIATION: Caffe runs one GEMM per image on one thread. Here threads take chunks of images
// (a chunk's columns side by side, sized to stay in cache), each with its own buffers; the
// backward pass cuts the batch into reduction slots (core/parallel.hpp), each with its own
// weight-gradient accumulator, summed in slot order at the end: the same products, summed in
// another order, so float rounding differs in the last bits (the same bits on any thread
// count). DEVIATION: WINOGRAD rounds transformed sums instead of products (about 4x
// IMPLICIT's error for 5x5; README, Faithfulness).
// bottom: (N, C, H, W); top: (N, C_out, H_out, W_out) with
// H_out = (H + 2 pad_h - (dilation_h (k_h - 1) + 1)) / stride_h + 1.
// W: (C_out, C / group, k_h, k_w); b: (C_out,).
#pragma once

#include <vector>

#include "layers/base_conv_layer.hpp"

namespace augdrop {

class ConvolutionLayer : public BaseConvolutionLayer {
 public:
  using BaseConvolutionLayer::BaseConvolutionLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Convolution"; }
  // The engine the current mode runs: on the GPU always CAFFE (see Forward_gpu).
  std::string engine() const override;
  // "CAFFE", "IMPLICIT" or "WINOGRAD" from the next Reshape on, whatever the engine field and
  // the speed rule say; "" (or "DEFAULT") goes back to them. Reshape throws where the geometry
  // does not fit the engine asked for.
  void ForceEngine(const std::string& engine);
  const std::string& forced_engine() const { return forced_engine_; }

 protected:
  bool reverse_dimensions() const override { return false; }
  // H_out = (H + 2 pad - (dilation (k - 1) + 1)) / stride + 1
  void compute_output_shape(int64_t in_h, int64_t in_w, int64_t* out_h,
                            int64_t* out_w) const override;
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  // One engine on the GPU whatever engine() says (conv_layer.cu): Caffe's im2col + GEMM, as
  // ForwardGemm / BackwardGemm with the images of a whole batch side by side in one chunk.
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

 private:
  // Per-thread buffers for the current thread count, and per-slot gradient accumulators for
  // the current reduction slot count (either may change between passes).
  void EnsureThreadBuffers();
  // The CAFFE engine (conv_layer.cpp) and the IMPLICIT engine (conv_implicit.cpp).
  void ForwardGemm(const BlobVec& bottom, const BlobVec& top);
  void BackwardGemm(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom);
  // The N-d path (base_conv_layer.hpp): Caffe's conv_layer.cpp, image by image on the
  // threads, the parameter gradients in reduction slots.
  void ForwardNd(const BlobVec& bottom, const BlobVec& top);
  void BackwardNd(const BlobVec& top, const std::vector<bool>& propagate_down,
                  const BlobVec& bottom);
#ifdef AUGDROP_WITH_CUDA
  void ForwardNdGpu(const BlobVec& bottom, const BlobVec& top);
  void BackwardNdGpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                     const BlobVec& bottom);
#endif
  void ReshapeImplicit();
  void ForwardImplicit(const BlobVec& bottom, const BlobVec& top);
  void ForwardWinograd(const BlobVec& bottom, const BlobVec& top);  // conv_implicit.cpp
  void BackwardImplicit(const BlobVec& top, const std::vector<bool>& propagate_down,
                        const BlobVec& bottom);
  // Sums the first `slots` gradient accumulators into the parameter diffs, in slot order.
  void ReduceGradients(int64_t slots, bool weight_grad, bool bias_grad);

  bool caffe_engine_ = false;  // engine: CAFFE asked for
  std::string forced_engine_;  // ForceEngine's, or empty
  bool implicit_ = false;      // the engine in use (the geometry decides too): IMPLICIT,
  bool winograd_ = false;      // or WINOGRAD (implicit_ too: its weight gradient)
  int64_t chunk_ = 1;         // images per GEMM (IMPLICIT: 1)
  int threads_ = 1;
  int slots_ = 1;             // reduction slots the accumulators are sized for
  // CAFFE, per thread, for a chunk of L = chunk * H_out * W_out pixels (IMPLICIT: the column
  // diffs of one image where the data gradient goes by col2im):
  Blob col_buffer_;           // the columns (C * k_h * k_w, L), also their diffs
  Blob out_buffer_;           // the output or top diff (C_out, L), channel-major
  // Both: per reduction slot, a weight and bias gradient accumulator (IMPLICIT: the weight
  // part transposed per group, (kernel_dim, grad_ld_)).
  Blob weight_diff_buffer_;
  // IMPLICIT:
  bool flipped_backward_ = false;  // the data gradient as a convolution, not col2im
  ConvGeometry back_geom_{};  // that convolution: top diff -> bottom diff
  // im2col rows in the shifted copy; the data gradient's rows (flipped: in the top diff's
  // shifted copy; else the top diff's channels)
  std::vector<int32_t> offsets_, back_offsets_;
  int64_t grad_ld_ = 0;       // C_out / group rounded up to whole vectors
  Blob shifted_buffer_;       // per thread: the shifted copy of a bottom image
  Blob shifted_diff_buffer_;  // per thread: the shifted copy of a top diff image
  Blob top_diff_t_buffer_;    // per thread, per group: an image's top diff, (H_out W_out, grad_ld_)
  Blob packed_weights_;       // W packed for the forward, and the flipped W^T for the backward
  // WINOGRAD:
  bool winograd_backward_ = false;  // the data gradient by Winograd too
  bool winograd_weight_grad_ = false;  // and the weight gradient (one group only)
  // Floats of the weight part of a reduction slot's accumulator (the bias part follows).
  int64_t WeightAccSize() const;
  ConvGeometry wino_geom_{}, wino_back_geom_{};  // forward, data gradient: one group's channels
  Blob winograd_filters_;     // per group, U of W, then U of the flipped W^T (winograd.hpp)
  Blob winograd_scratch_;     // per thread: one image's V, M and row buffers
#ifdef AUGDROP_WITH_CUDA
  // GPU, for a chunk of L = chunk * H_out * W_out pixels (the whole batch unless that passes a
  // memory budget), on the device:
  Blob gpu_col_buffer_;        // the columns (C * k_h * k_w, L), also their diffs
  Blob gpu_out_buffer_;        // the output or top diff (C_out, L), channel-major
  Blob gpu_bias_multiplier_;   // (L,) ones, for the bias gradient's GEMV
#endif
};

}  // namespace augdrop
