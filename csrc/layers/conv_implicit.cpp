// The IMPLICIT engine of the convolution (conv_layer.hpp), image by image on the threads:
//   forward          y (C_out, HW_out)        = W (C_out, K) * cols(x)
//   weight gradient  dW^T (K, C_out)         += cols(x) * dy^T (HW_out, C_out)
//   data gradient    dx (C, HW)               = W' * cols'(dy)        (flipped_backward_)
//                    or col2im(W^T (K, C_out) * dy (C_out, HW_out))   (Caffe's way)
// per group, where cols() is Caffe's im2col matrix read in place from a shifted copy
// (math/implicit_gemm.hpp), and the flipped data gradient is the stride-1 convolution of the
// top diff, padded by dilation (k - 1) - pad, with W'[c][o][i][j] = W[o][c][k_h-1-i][k_w-1-j]:
// the same products as Caffe's col2im(W^T dy), summed in another order, without col2im.
// The WINOGRAD engine (math/winograd.hpp) shares this file's loops: its forward, data and
// weight gradients take the places of the GEMMs above where winograd_ (and the geometry) say.
#include <algorithm>
#include <vector>

#include "core/errors.hpp"
#include "core/mode.hpp"
#include "core/parallel.hpp"
#include "layers/conv_layer.hpp"
#include "math/implicit_gemm.hpp"
#include "math/math_functions.hpp"
#include "math/winograd.hpp"

namespace augdrop {
namespace {

// Images per block: at least about a million multiply-adds (`work` per image); smaller
// blocks are not worth waking a thread for.
int64_t MinImagesPerBlock(int64_t work) {
  return std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(work, 1));
}

// f(n, thread) for the images n in [0, num), in contiguous blocks, one per thread.
template <class F>
void ForEachImage(int64_t num, int64_t work, F&& f) {
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(MaxThreads(), num / MinImagesPerBlock(work)));
  ParallelFor(blocks, [&](int64_t b, int t) {
    for (int64_t n = num * b / blocks; n < num * (b + 1) / blocks; ++n) f(n, t);
  });
}

// f(n, slot, thread) for the images n in [0, num), in the reduction slots' blocks
// (core/parallel.hpp): the gradient sums do not follow the thread count. Returns the number
// of slots used.
template <class F>
int64_t ForEachImageBySlot(int64_t num, int64_t work, F&& f) {
  const int64_t min_block = MinImagesPerBlock(work);
  ParallelSlots(num, min_block, [&](int64_t slot, int64_t begin, int64_t end, int t) {
    for (int64_t n = begin; n < end; ++n) f(n, slot, t);
  });
  return SlotCount(num, min_block);
}

}  // namespace

// Whether WINOGRAD beats IMPLICIT on a layer it fits. Its transforms cost per channel what its
// GEMMs save per pair of channels, so it needs enough channels on both sides. Measured on the
// development machine (AVX2, 2 threads; bench/bench_conv_engines.py, bench/NOTES.md), forward /
// backward: ResNet-20's 3x3 64 -> 64 layers 1.46-1.48x / 1.38-1.40x faster, its 32 -> 32
// layers 1.39-1.40x / 1.31-1.33x, its 16 -> 16 layers 0.99-1.04x / 0.88-0.89x (left on
// IMPLICIT); cifar10_quick's 5x5 conv2 (32 -> 32) 1.46-1.48x / 1.32-1.33x, conv3 (32 -> 64)
// 1.43-1.45x / 1.36-1.37x, LeNet's conv2 (20 -> 50) 1.40-1.41x / 1.10x; cifar10_quick's
// conv1 (3 -> 32) 0.57-0.58x / 0.64-0.65x (left on IMPLICIT).
bool WinogradPays(int64_t in_channels, int64_t out_channels) {
  return in_channels >= 20 && out_channels >= 20;
}

std::string ConvolutionLayer::engine() const {
  // A GPU run's provenance must name what ran there (conv_layer.cu), not the CPU's choice.
  if (GetMode() == Mode::GPU) return "CAFFE";
  return winograd_ ? "WINOGRAD" : implicit_ ? "IMPLICIT" : "CAFFE";
}

void ConvolutionLayer::ForceEngine(const std::string& engine) {
  const std::string e = engine == "DEFAULT" ? "" : engine;
  if (e != "" && e != "CAFFE" && e != "IMPLICIT" && e != "WINOGRAD") {
    throw Error("no engine " + engine + " (CAFFE, IMPLICIT, WINOGRAD or DEFAULT)",
                name(), type());
  }
  forced_engine_ = e;
}

void ConvolutionLayer::ReshapeImplicit() {
  const ConvGeometry& g = geom_;
  const bool caffe = forced_engine_.empty() ? caffe_engine_ : forced_engine_ == "CAFFE";
  implicit_ = !caffe && ImplicitGemmFits(g);
  winograd_ = false;
  winograd_backward_ = false;
  winograd_weight_grad_ = false;
  if (!forced_engine_.empty() && !caffe && !implicit_) {
    throw Error("engine " + forced_engine_ + " asked for, but its geometry takes only CAFFE (" +
                    std::to_string(g.out_h() * g.out_w()) + " output pixels, not whole vectors of " +
                    std::to_string(kVec) + ")",
                name(), type());
  }
  if (!implicit_) return;
  offsets_.resize(g.channels * g.kernel_h * g.kernel_w);
  RowOffsets(g, offsets_.data());
  grad_ld_ = (num_output_ / group_ + kVec - 1) / kVec * kVec;
  back_geom_ = g;
  back_geom_.channels = num_output_;
  back_geom_.height = g.out_h();
  back_geom_.width = g.out_w();
  back_geom_.pad_h = g.dilation_h * (g.kernel_h - 1) - g.pad_h;
  back_geom_.pad_w = g.dilation_w * (g.kernel_w - 1) - g.pad_w;
  // The flipped convolution computes every input pixel from k_h * k_w taps; where the
  // forward pads less than "same", many of them fall on the zero border and col2im of the
  // column diffs does less work (LeNet's conv2: 144 input pixels against 64 output ones).
  const int64_t in_hw = g.height * g.width;
  back_geom_.stride_h = back_geom_.stride_w = 1;
  flipped_backward_ = g.stride_h == 1 && g.stride_w == 1 && back_geom_.pad_h >= 0 &&
                      back_geom_.pad_w >= 0 && ImplicitGemmFits(back_geom_) &&
                      back_geom_.out_h() == g.height && back_geom_.out_w() == g.width &&
                      4 * in_hw <= 5 * out_spatial_;
  // WINOGRAD: the forward of one group, and its data gradient where that is the flipped
  // convolution.
  const int64_t in_group = g.channels / group_, per_group = num_output_ / group_;
  wino_geom_ = g;
  wino_geom_.channels = in_group;
  wino_back_geom_ = back_geom_;
  wino_back_geom_.channels = per_group;
  const bool fits = WinogradFits(g);
  winograd_ = forced_engine_.empty() ? fits && WinogradPays(in_group, per_group)
                                     : forced_engine_ == "WINOGRAD";
  if (winograd_ && !fits) {
    throw Error("engine WINOGRAD asked for, but it takes only 3x3 or 5x5 kernels, stride 1, "
                "no dilation and an even output height and width",
                name(), type());
  }
  winograd_backward_ = winograd_ && flipped_backward_ && WinogradFits(wino_back_geom_);
  winograd_weight_grad_ = winograd_ && group_ == 1;
  if (flipped_backward_) {
    back_offsets_.resize(num_output_ * g.kernel_h * g.kernel_w);
    RowOffsets(back_geom_, back_offsets_.data());
  } else {
    back_offsets_.resize(num_output_);  // row o of the top diff, read in place
    for (int64_t o = 0; o < num_output_; ++o) back_offsets_[o] = static_cast<int32_t>(o * out_spatial_);
  }
}

void ConvolutionLayer::ForwardImplicit(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->cpu_data();
  const float* b = bias_term_ ? blobs_[1]->cpu_data() : nullptr;
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t per_group = num_output_ / group_, kd = kernel_dim_, hw = out_spatial_;
  EnsureThreadBuffers();
  if (winograd_) {
    ForwardWinograd(bottom, top);
    return;
  }
  float* packed = packed_weights_.mutable_cpu_data();
  for (int64_t g = 0; g < group_; ++g) {
    const int64_t at = g * per_group * kd;
    PackRowBlocks(per_group, kd, w + at, kd, 1, packed + at);
  }
  float* shifteds = shifted_buffer_.mutable_cpu_data();
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->cpu_data();
    float* y = top[i]->mutable_cpu_data();
    ForEachImage(num, num_output_ * kd * hw, [&](int64_t n, int t) {
      float* shifted = shifteds + t * shifted_buffer_.count(1);
      ShiftInput(x + n * in_dim, geom_, shifted);
      for (int64_t g = 0; g < group_; ++g) {
        ImplicitGemm(per_group, kd, packed + g * per_group * kd, offsets_.data() + g * kd, shifted,
                     hw, b ? b + g * per_group : nullptr, y + n * out_dim + g * per_group * hw, hw);
      }
    });
  }
}

void ConvolutionLayer::ForwardWinograd(const BlobVec& bottom, const BlobVec& top) {
  const float* w = blobs_[0]->cpu_data();
  const float* b = bias_term_ ? blobs_[1]->cpu_data() : nullptr;
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t per_group = num_output_ / group_, in_group = wino_geom_.channels;
  const int64_t in_hw = geom_.height * geom_.width, hw = out_spatial_;
  const int64_t k = geom_.kernel_h;
  const int64_t u_size = WinogradFilterSize(k, per_group, in_group);  // one group's
  float* u = winograd_filters_.mutable_cpu_data();
  for (int64_t g = 0; g < group_; ++g) {
    WinogradPackFilters(k, per_group, in_group, w + g * per_group * kernel_dim_, kernel_dim_,
                        k * k, false, u + g * u_size);
  }
  float* scratch = winograd_scratch_.mutable_cpu_data();
  for (size_t i = 0; i < bottom.size(); ++i) {
    const float* x = bottom[i]->cpu_data();
    float* y = top[i]->mutable_cpu_data();
    ForEachImage(num, num_output_ * kernel_dim_ * hw, [&](int64_t n, int t) {
      for (int64_t g = 0; g < group_; ++g) {
        WinogradConv(wino_geom_, per_group, u + g * u_size,
                     x + n * in_dim + g * in_group * in_hw, b ? b + g * per_group : nullptr,
                     y + n * out_dim + g * per_group * hw, scratch + t * winograd_scratch_.count(1));
      }
    });
  }
}

void ConvolutionLayer::BackwardImplicit(const BlobVec& top, const std::vector<bool>& propagate_down,
                                        const BlobVec& bottom) {
  const float* w = blobs_[0]->cpu_data();
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  const int64_t num = bottom[0]->shape(0);
  const int64_t in_dim = bottom[0]->count(1), out_dim = top[0]->count(1);
  const int64_t per_group = num_output_ / group_, kd = kernel_dim_, hw = out_spatial_;
  const int64_t in_group = geom_.channels / group_, in_hw = geom_.height * geom_.width;
  const int64_t taps = geom_.kernel_h * geom_.kernel_w, back_kd = per_group * taps;
  const int64_t ld = grad_ld_;
  EnsureThreadBuffers();
  float* accs = weight_diff_buffer_.mutable_cpu_data();
  const int64_t acc_size = weight_diff_buffer_.count(1);
  std::fill(accs, accs + weight_diff_buffer_.count(), 0.f);
  // The data gradient's weights, packed into the second half of packed_weights_: W^T per
  // group for the column diffs, or W' per group, (in_group, per_group * taps), first laid
  // out in packed_weights_'s diff (scratch).
  float* packed_back = packed_weights_.mutable_cpu_data() + blobs_[0]->count();
  float* flipped = packed_weights_.mutable_cpu_diff();
  const bool any_dx =
      std::find(propagate_down.begin(), propagate_down.end(), true) != propagate_down.end();
  if (any_dx && !flipped_backward_) {
    for (int64_t g = 0; g < group_; ++g) {
      const int64_t at = g * per_group * kd;
      PackRowBlocks(kd, per_group, w + at, 1, kd, packed_back + at);
    }
  }
  // WINOGRAD: the flipped W^T per group, transformed, after the forward's filters.
  const int64_t u_size = WinogradFilterSize(geom_.kernel_h, per_group, in_group);
  float* u_back =
      winograd_backward_ ? winograd_filters_.mutable_cpu_data() + group_ * u_size : nullptr;
  if (any_dx && winograd_backward_) {
    for (int64_t g = 0; g < group_; ++g) {
      WinogradPackFilters(geom_.kernel_h, in_group, per_group, w + g * per_group * kd, taps, kd,
                          true, u_back + g * u_size);
    }
  } else if (any_dx && flipped_backward_) {
    for (int64_t g = 0; g < group_; ++g) {
      const float* wg = w + g * per_group * kd;
      float* fg = flipped + g * per_group * kd;
      for (int64_t c = 0; c < in_group; ++c)
        for (int64_t o = 0; o < per_group; ++o)
          for (int64_t j = 0; j < taps; ++j)
            fg[(c * per_group + o) * taps + j] = wg[(o * in_group + c) * taps + (taps - 1 - j)];
      PackRowBlocks(in_group, back_kd, fg, back_kd, 1, packed_back + g * per_group * kd);
    }
  }
  float* shifteds = shifted_buffer_.mutable_cpu_data();
  float* shifted_diffs = shifted_diff_buffer_.mutable_cpu_data();
  float* wino_scratches = winograd_scratch_.mutable_cpu_data();
  float* dyts = top_diff_t_buffer_.mutable_cpu_data();
  float* cols = col_buffer_.mutable_cpu_data();
  std::vector<float> bias_sums(bias_grad ? MaxThreads() * num_output_ : 0);
  int64_t slots = 1;
  for (size_t i = 0; i < top.size(); ++i) {
    if (!weight_grad && !bias_grad && !propagate_down[i]) continue;
    const float* dy = top[i]->cpu_diff();
    const float* x = bottom[i]->cpu_data();
    float* dx = propagate_down[i] ? bottom[i]->mutable_cpu_diff() : nullptr;
    slots = ForEachImageBySlot(num, 2 * num_output_ * kd * hw, [&](int64_t n, int64_t slot, int t) {
      const float* dyn = dy + n * out_dim;
      float* dwt = accs + slot * acc_size;
      float* db = dwt + WeightAccSize();
      if (bias_grad) {
        // Each channel's sum in index order, eight channels at a time (one chain of
        // dependent adds per channel took as long as conv1's weight gradient).
        float* sums = bias_sums.data() + t * num_output_;
        cpu_row_sums(num_output_, hw, dyn, 1.f, sums);
        for (int64_t c = 0; c < num_output_; ++c) db[c] += sums[c];
      }
      if (weight_grad && winograd_weight_grad_) {
        WinogradWeightGrad(wino_geom_, num_output_, ld, x + n * in_dim, dyn, dwt,
                           wino_scratches + t * winograd_scratch_.count(1));
      } else if (weight_grad) {
        float* shifted = shifteds + t * shifted_buffer_.count(1);
        float* dyt = dyts + t * top_diff_t_buffer_.count(1);
        ShiftInput(x + n * in_dim, geom_, shifted);
        for (int64_t g = 0; g < group_; ++g) {
          // The group's top diff transposed, (hw, ld); zero beyond its channels.
          float* dt = dyt + g * hw * ld;
          TransposeToVectors(per_group, hw, dyn + g * per_group * hw, hw, dt, ld);
          ImplicitWeightGrad(kd, ld, hw, dt, offsets_.data() + g * kd, shifted, dwt + g * kd * ld);
        }
      }
      if (dx && winograd_backward_) {
        float* scratch = wino_scratches + t * winograd_scratch_.count(1);
        for (int64_t g = 0; g < group_; ++g) {
          WinogradConv(wino_back_geom_, in_group, u_back + g * u_size, dyn + g * per_group * hw,
                       nullptr, dx + n * in_dim + g * in_group * in_hw, scratch);
        }
      } else if (dx && flipped_backward_) {
        float* shifted = shifted_diffs + t * shifted_diff_buffer_.count(1);
        ShiftInput(dyn, back_geom_, shifted);
        for (int64_t g = 0; g < group_; ++g) {
          ImplicitGemm(in_group, back_kd, packed_back + g * per_group * kd,
                       back_offsets_.data() + g * back_kd, shifted, in_hw, nullptr,
                       dx + n * in_dim + g * in_group * in_hw, in_hw);
        }
      } else if (dx) {
        // col diff (K, hw) = W^T dy, its rows of k in order, then col2im.
        float* col = cols + t * col_buffer_.count(1);
        for (int64_t g = 0; g < group_; ++g) {
          ImplicitGemm(kd, per_group, packed_back + g * per_group * kd,
                       back_offsets_.data() + g * per_group, dyn, hw, nullptr, col + g * kd * hw, hw);
        }
        col2im_cpu(col, geom_, dx + n * in_dim, hw);
      }
    });
  }
  ReduceGradients(slots, weight_grad, bias_grad);
}

}  // namespace augdrop
