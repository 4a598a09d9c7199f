// The recurrent layers' device primitives (SeqOps in recurrent_layer.hpp): the elementwise
// steps of RNN and LSTM's sequences (Caffe runs them as the Scale, TanH and InnerProduct
// layers of its unrolled net), one thread per element; the GEMMs go through cuBLAS and the LSTM
// step through lstm_unit_layer.cu.
#include "core/cuda_check.hpp"
#include "layers/recurrent_layer.hpp"

namespace augdrop {
namespace {

__global__ void ScaleRows(int64_t n, int64_t width, const float* cont, const float* x, float* y,
                          bool add) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float v = cont[i / width] * x[i];
    y[i] = add ? y[i] + v : v;
  }
}

__global__ void AddBias(int64_t n, int64_t width, const float* bias, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) { y[i] += bias[i % width]; }
}

// One thread per column, the rows in order (the CPU path's sum).
__global__ void ColumnSumsAdd(int64_t rows, int64_t width, const float* x, float* out) {
  AD_CUDA_KERNEL_LOOP(j, width) {
    float s = 0;
    for (int64_t r = 0; r < rows; ++r) s += x[r * width + j];
    out[j] += s;
  }
}

__global__ void TanhForward(int64_t n, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) { y[i] = tanhf(x[i]); }
}

__global__ void TanhBackward(int64_t n, const float* y, const float* dy, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) { dx[i] = dy[i] * (1 - y[i] * y[i]); }
}

}  // namespace

void gpu_scale_rows(int64_t rows, int64_t width, const float* cont, const float* x, float* y,
                    bool add) {
  const int64_t n = rows * width;
  if (n <= 0) return;
  ScaleRows<<<CudaBlocks(n), kCudaThreads>>>(n, width, cont, x, y, add);
  AD_CUDA_POST_KERNEL_CHECK;
}

void gpu_add_bias(int64_t rows, int64_t width, const float* bias, float* y) {
  const int64_t n = rows * width;
  if (n <= 0) return;
  AddBias<<<CudaBlocks(n), kCudaThreads>>>(n, width, bias, y);
  AD_CUDA_POST_KERNEL_CHECK;
}

void gpu_column_sums_add(int64_t rows, int64_t width, const float* x, float* out) {
  if (width <= 0) return;
  ColumnSumsAdd<<<CudaBlocks(width), kCudaThreads>>>(rows, width, x, out);
  AD_CUDA_POST_KERNEL_CHECK;
}

void gpu_tanh_forward(int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  TanhForward<<<CudaBlocks(n), kCudaThreads>>>(n, x, y);
  AD_CUDA_POST_KERNEL_CHECK;
}

void gpu_tanh_backward(int64_t n, const float* y, const float* dy, float* dx) {
  if (n <= 0) return;
  TanhBackward<<<CudaBlocks(n), kCudaThreads>>>(n, y, dy, dx);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
