// ArgMax on the GPU. Caffe has no argmax_layer.cu (its GPU mode runs the host code); this is
// the same selection as argmax_layer.cpp, one thread a row: top_k passes, each taking the
// largest (value, index) pair below the one taken before, which is the order of the host's
// partial_sort with std::greater (equal values: the larger index first).
#include "core/cuda_check.hpp"
#include "layers/argmax_layer.hpp"

namespace augdrop {
namespace {

// (v, j) > (w, k) as std::pair's lexicographic order.
__device__ inline bool PairGreater(float v, int64_t j, float w, int64_t k) {
  return v > w || (!(w > v) && j > k);
}

// x: num rows of dim entries, axis_dist apart; see argmax_layer.cpp for the top's layout.
__global__ void ArgMaxRows(int64_t num, int64_t dim, int64_t axis_dist, int64_t top_k,
                           bool has_axis, bool out_max_val, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(i, num) {
    const int64_t base = i / axis_dist * dim * axis_dist + i % axis_dist;
    float prev_v = 0.f;
    int64_t prev_j = -1;  // -1: nothing taken yet
    for (int64_t t = 0; t < top_k; ++t) {
      float best_v = 0.f;
      int64_t best_j = -1;
      for (int64_t j = 0; j < dim; ++j) {
        const float v = x[base + j * axis_dist];
        if (prev_j >= 0 && !PairGreater(prev_v, prev_j, v, j)) continue;
        if (best_j < 0 || PairGreater(v, j, best_v, best_j)) {
          best_v = v;
          best_j = j;
        }
      }
      prev_v = best_v;
      prev_j = best_j;
      const int64_t at = i / axis_dist * top_k * axis_dist + t * axis_dist + i % axis_dist;
      if (has_axis) {
        y[at] = out_max_val ? best_v : float(best_j);
      } else if (out_max_val) {
        y[2 * i * top_k + t] = float(best_j);
        y[2 * i * top_k + top_k + t] = best_v;
      } else {
        y[i * top_k + t] = float(best_j);
      }
    }
  }
}

}  // namespace

void ArgMaxLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  int64_t num, dim, axis_dist;
  RowLayout(*bottom[0], &num, &dim, &axis_dist);
  if (num == 0) return;
  ArgMaxRows<<<CudaBlocks(num), kCudaThreads>>>(num, dim, axis_dist, top_k_, has_axis_,
                                                out_max_val_, bottom[0]->gpu_data(),
                                                top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
