// Scale on the GPU (Caffe's scale_layer.cu): the same formulas as scale_layer.cpp.
// The sums run in a different order from the host loops (a tree within each row), so dscale
// and dbias agree with the CPU path to rounding, not bit for bit.
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/scale_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// out[r] = sum_k a[r, k] * b[r, k] (b null: sum_k a[r, k]); a, b: (rows, len). One block a row.
__global__ void RowSums(int64_t rows, int64_t len, const float* a, const float* b, float* out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* ra = a + r * len;
    const float* rb = b ? b + r * len : nullptr;
    float s = 0.f;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) s += rb ? ra[k] * rb[k] : ra[k];
    s = BlockSum(s);
    if (threadIdx.x == 0) out[r] = s;
  }
}

// How ColSums combines its sums with out, in the host loops' orders.
enum class ColSumMode {
  kRunning,    // each in[n, c] added to out[c] in turn (the dbias loop)
  kAddTotal,   // their sum added at the end (the learned dscale loop)
  kOverwrite,  // their sum written over out[c] (the dscale of a scale bottom)
};

// out[c] (+)= sum_n in[n, c], n in order; in: (rows, cols).
__global__ void ColSums(int64_t rows, int64_t cols, const float* in, ColSumMode mode,
                        float* out) {
  AD_CUDA_KERNEL_LOOP(c, cols) {
    float s = mode == ColSumMode::kRunning ? out[c] : 0.f;
    for (int64_t n = 0; n < rows; ++n) s += in[n * cols + c];
    out[c] = mode == ColSumMode::kAddTotal ? out[c] + s : s;
  }
}

// y[o, s, i] = x[o, s, i] * scale[s] (+ bias[s] when bias is not null); y may alias x.
__global__ void ScaleForward(int64_t n, const float* x, const float* scale, const float* bias,
                             int64_t scale_dim, int64_t inner_dim, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t s = (i / inner_dim) % scale_dim;
    const float scaled = __fmul_rn(scale[s], x[i]);  // rounded before the bias, as on the host
    y[i] = bias ? scaled + bias[s] : scaled;
  }
}

// dx[o, s, i] = scale[s] * dy[o, s, i]; dx may alias dy.
__global__ void ScaleBackward(int64_t n, const float* dy, const float* scale, int64_t scale_dim,
                              int64_t inner_dim, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = scale[(i / inner_dim) % scale_dim] * dy[i];
}

// Per-row sums of (rows, len) into out (rows), b as in RowSums.
void LaunchRowSums(int64_t rows, int64_t len, const float* a, const float* b, float* out) {
  int threads = 32;
  while (threads < kReduceThreads && threads < len) threads *= 2;
  const int64_t max_blocks = 65535 * 16;
  const int blocks = static_cast<int>(rows < 1 ? 1 : (rows < max_blocks ? rows : max_blocks));
  RowSums<<<blocks, threads>>>(rows, len, a, b, out);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace

void ScaleLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  if (bottom[0] == top[0]) {
    // Keep the bottom data for the scale gradient before overwriting it.
    gpu_copy(count, bottom[0]->gpu_data(), temp_.mutable_gpu_data());
  }
  const float* x = bottom[0]->gpu_data();                            // (outer, S, inner)
  const float* scale = ScaleBlob(bottom)->gpu_data();                           // (S)
  const float* bias = bias_term_ ? blobs_[bias_param_id_]->gpu_data() : nullptr;  // (S)
  float* y = top[0]->mutable_gpu_data();  // (outer, S, inner); may alias x
  ScaleForward<<<CudaBlocks(count), kCudaThreads>>>(count, x, scale, bias, scale_dim_,
                                                    inner_dim_, y);
  AD_CUDA_POST_KERNEL_CHECK;
}

void ScaleLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  const float* dy = top[0]->gpu_diff();  // (outer, S, inner)
  const int64_t rows = outer_dim_ * scale_dim_;
  if (bias_term_ && param_propagate_down(bias_param_id_)) {
    // dbias[s] += sum_n sum_i dy[n, s, i].
    float* sums = sum_result_.mutable_gpu_data();
    LaunchRowSums(rows, inner_dim_, dy, nullptr, sums);
    ColSums<<<CudaBlocks(scale_dim_), kCudaThreads>>>(outer_dim_, scale_dim_, sums,
                                                      ColSumMode::kRunning,
                                                      blobs_[bias_param_id_]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
  const bool learned = bottom.size() == 1;
  if ((learned && param_propagate_down(0)) || (!learned && propagate_down[1])) {
    const bool in_place = bottom[0] == top[0];
    const float* x = (in_place ? &temp_ : bottom[0])->gpu_data();
    // sum_result[n, s] = sum_i dy * x, then dscale[s] (+)= sum_n sum_result[n, s].
    float* sums = sum_result_.mutable_gpu_data();
    LaunchRowSums(rows, inner_dim_, dy, x, sums);
    ColSums<<<CudaBlocks(scale_dim_), kCudaThreads>>>(
        outer_dim_, scale_dim_, sums, learned ? ColSumMode::kAddTotal : ColSumMode::kOverwrite,
        ScaleBlob(bottom)->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
  if (propagate_down[0]) {
    const int64_t count = bottom[0]->count();
    float* dx = bottom[0]->mutable_gpu_diff();  // may alias dy
    ScaleBackward<<<CudaBlocks(count), kCudaThreads>>>(count, dy, ScaleBlob(bottom)->gpu_data(),
                                                       scale_dim_, inner_dim_, dx);
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

}  // namespace augdrop
