// LSTMUnit on the GPU (Caffe's lstm_unit_layer.cu): lstm_unit_layer.cpp's formulas, one thread
// per (stream, hidden unit).
#include "core/cuda_check.hpp"
#include "layers/lstm_unit_layer.hpp"

namespace augdrop {
namespace {

__device__ float Sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
__device__ float Tanh(float x) { return 2.f * Sigmoid(2.f * x) - 1.f; }

__global__ void LSTMUnitForward(int64_t count, int64_t H, const float* c_prev, const float* X,
                                const float* cont, float* c, float* h) {
  AD_CUDA_KERNEL_LOOP(k, count) {
    const int64_t s = k / H, d = k % H;
    const float* x = X + s * 4 * H;
    const float i = Sigmoid(x[d]);
    const float f = cont[s] == 0.f ? 0.f : cont[s] * Sigmoid(x[H + d]);
    const float o = Sigmoid(x[2 * H + d]);
    const float g = Tanh(x[3 * H + d]);
    const float cell = f * c_prev[k] + i * g;
    c[k] = cell;
    h[k] = o * Tanh(cell);
  }
}

__global__ void LSTMUnitBackward(int64_t count, int64_t H, const float* c_prev, const float* X,
                                 const float* cont, const float* c, const float* c_diff,
                                 const float* h_diff, float* c_prev_diff, float* X_diff) {
  AD_CUDA_KERNEL_LOOP(k, count) {
    const int64_t s = k / H, d = k % H;
    const float* x = X + s * 4 * H;
    float* dx = X_diff + s * 4 * H;
    const float i = Sigmoid(x[d]);
    const float f = cont[s] == 0.f ? 0.f : cont[s] * Sigmoid(x[H + d]);
    const float o = Sigmoid(x[2 * H + d]);
    const float g = Tanh(x[3 * H + d]);
    const float tanh_c = Tanh(c[k]);
    const float dc = c_diff[k] + h_diff[k] * o * (1 - tanh_c * tanh_c);
    c_prev_diff[k] = dc * f;
    dx[d] = dc * g * i * (1 - i);
    dx[H + d] = dc * c_prev[k] * f * (1 - f);
    dx[2 * H + d] = h_diff[k] * tanh_c * o * (1 - o);
    dx[3 * H + d] = dc * i * (1 - g * g);
  }
}

}  // namespace

void lstm_unit_forward_gpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                           const float* cont, float* c, float* h) {
  const int64_t count = n * H;
  if (count <= 0) return;
  LSTMUnitForward<<<CudaBlocks(count), kCudaThreads>>>(count, H, c_prev, X, cont, c, h);
  AD_CUDA_POST_KERNEL_CHECK;
}

void lstm_unit_backward_gpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                            const float* cont, const float* c, const float* c_diff,
                            const float* h_diff, float* c_prev_diff, float* X_diff) {
  const int64_t count = n * H;
  if (count <= 0) return;
  LSTMUnitBackward<<<CudaBlocks(count), kCudaThreads>>>(count, H, c_prev, X, cont, c, c_diff,
                                                        h_diff, c_prev_diff, X_diff);
  AD_CUDA_POST_KERNEL_CHECK;
}

void LSTMUnitLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  lstm_unit_forward_gpu(bottom[0]->shape(1), hidden_, bottom[0]->gpu_data(), bottom[1]->gpu_data(),
                        bottom[2]->gpu_data(), top[0]->mutable_gpu_data(), top[1]->mutable_gpu_data());
}

void LSTMUnitLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                 const BlobVec& bottom) {
  AD_CHECK(!propagate_down[2], "cannot backpropagate to the sequence indicators (cont)");
  if (!propagate_down[0] && !propagate_down[1]) return;
  scratch_.Reshape({bottom[1]->count()});
  float* c_prev_diff = propagate_down[0] ? bottom[0]->mutable_gpu_diff() : scratch_.mutable_gpu_data();
  float* x_diff = propagate_down[1] ? bottom[1]->mutable_gpu_diff() : scratch_.mutable_gpu_diff();
  lstm_unit_backward_gpu(bottom[0]->shape(1), hidden_, bottom[0]->gpu_data(), bottom[1]->gpu_data(),
                         bottom[2]->gpu_data(), top[0]->gpu_data(), top[0]->gpu_diff(),
                         top[1]->gpu_diff(), c_prev_diff, x_diff);
}

}  // namespace augdrop
