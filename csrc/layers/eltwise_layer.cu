// Eltwise on the GPU (Caffe's eltwise_layer.cu): the same formulas as eltwise_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/eltwise_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// MAX over bottoms 0 and 1: x0 > x1 picks 0, else 1 (ties go to bottom 1).
__global__ void MaxForwardFirstTwo(int64_t n, const float* a, const float* b, float* y,
                                   int32_t* mask) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    if (a[i] > b[i]) {
      y[i] = a[i];
      mask[i] = 0;
    } else {
      y[i] = b[i];
      mask[i] = 1;
    }
  }
}

// MAX with a later bottom: replaces the current max only when strictly greater.
__global__ void MaxForwardNext(int64_t n, const float* x, int32_t index, float* y,
                               int32_t* mask) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    if (x[i] > y[i]) {
      y[i] = x[i];
      mask[i] = index;
    }
  }
}

// dx = dy where bottom `index` held the max, else 0.
__global__ void MaxBackward(int64_t n, const float* dy, const int32_t* mask, int32_t index,
                            float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    float gradient = 0.f;
    if (mask[i] == index) gradient += dy[i];
    dx[i] = gradient;
  }
}

// dx = y / x (PROD without stable_prod_grad).
__global__ void Divide(int64_t n, const float* y, const float* x, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = y[i] / x[i];
}

// dx = coeff * dy (SUM with a coefficient other than 1).
__global__ void ScaleBy(int64_t n, float coeff, const float* dy, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = coeff * dy[i];
}

}  // namespace

void EltwiseLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = top[0]->count();
  float* y = top[0]->mutable_gpu_data();
  switch (op_) {
    case Op::PROD:
      gpu_mul(count, bottom[0]->gpu_data(), bottom[1]->gpu_data(), y);
      for (size_t n = 2; n < bottom.size(); ++n) gpu_mul(count, y, bottom[n]->gpu_data(), y);
      break;
    case Op::SUM:
      gpu_set(count, 0.f, y);
      for (size_t n = 0; n < bottom.size(); ++n)
        gpu_axpy(count, coeffs_[n], bottom[n]->gpu_data(), y);
      break;
    case Op::MAX: {
      int32_t* mask = max_idx_.mutable_gpu_data();
      MaxForwardFirstTwo<<<CudaBlocks(count), kCudaThreads>>>(
          count, bottom[0]->gpu_data(), bottom[1]->gpu_data(), y, mask);
      AD_CUDA_POST_KERNEL_CHECK;
      for (size_t n = 2; n < bottom.size(); ++n) {
        MaxForwardNext<<<CudaBlocks(count), kCudaThreads>>>(count, bottom[n]->gpu_data(),
                                                            int32_t(n), y, mask);
        AD_CUDA_POST_KERNEL_CHECK;
      }
      break;
    }
  }
}

void EltwiseLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  const int64_t count = top[0]->count();
  const float* dy = top[0]->gpu_diff();
  for (size_t n = 0; n < bottom.size(); ++n) {
    if (!propagate_down[n]) continue;
    float* dx = bottom[n]->mutable_gpu_diff();
    switch (op_) {
      case Op::PROD:
        if (stable_prod_grad_) {
          // dx = prod of the other bottoms, in bottom order.
          bool initialized = false;
          for (size_t m = 0; m < bottom.size(); ++m) {
            if (m == n) continue;
            const float* other = bottom[m]->gpu_data();
            if (!initialized) {
              gpu_copy(count, other, dx);
              initialized = true;
            } else {
              gpu_mul(count, other, dx, dx);
            }
          }
        } else {
          Divide<<<CudaBlocks(count), kCudaThreads>>>(count, top[0]->gpu_data(),
                                                      bottom[n]->gpu_data(), dx);
          AD_CUDA_POST_KERNEL_CHECK;
        }
        gpu_mul(count, dx, dy, dx);
        break;
      case Op::SUM:
        if (coeffs_[n] == 1.f) {
          gpu_copy(count, dy, dx);
        } else {
          ScaleBy<<<CudaBlocks(count), kCudaThreads>>>(count, coeffs_[n], dy, dx);
          AD_CUDA_POST_KERNEL_CHECK;
        }
        break;
      case Op::MAX:
        MaxBackward<<<CudaBlocks(count), kCudaThreads>>>(count, dy, max_idx_.gpu_data(),
                                                         int32_t(n), dx);
        AD_CUDA_POST_KERNEL_CHECK;
        break;
    }
  }
}

}  // namespace augdrop
