#include "layers/eltwise_layer.hpp"

#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void EltwiseLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("eltwise_param");
  const std::string op = p.get_string("operation", "SUM");
  if (op == "PROD")
    op_ = Op::PROD;
  else if (op == "SUM")
    op_ = Op::SUM;
  else if (op == "MAX")
    op_ = Op::MAX;
  else
    AD_FAIL("Unknown elementwise operation: " << op);
  const std::vector<double> coeff = p.get_floats("coeff");
  AD_CHECK(coeff.empty() || coeff.size() == bottom.size(),
           "Eltwise Layer takes one coefficient per bottom blob (" << bottom.size()
                                                                   << " bottoms, " << coeff.size()
                                                                   << " coefficients)");
  AD_CHECK(!(op_ == Op::PROD && !coeff.empty()),
           "Eltwise layer only takes coefficients for summation.");
  coeffs_.assign(bottom.size(), 1.f);
  for (size_t i = 0; i < coeff.size(); ++i) coeffs_[i] = static_cast<float>(coeff[i]);
  stable_prod_grad_ = p.get_bool("stable_prod_grad", true);
}

void EltwiseLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  for (size_t i = 1; i < bottom.size(); ++i)
    AD_CHECK(bottom[i]->shape() == bottom[0]->shape(),
             "bottom[" << i << "]: " << bottom[i]->shape_string()
                       << ", bottom[0]: " << bottom[0]->shape_string()
                       << "; Eltwise bottoms must have the same shape");
  top[0]->ReshapeLike(*bottom[0]);
  if (op_ == Op::MAX) max_idx_.Resize(bottom[0]->count());
}

void EltwiseLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = top[0]->count();
  float* y = top[0]->mutable_cpu_data();
  switch (op_) {
    case Op::PROD: {
      const float* a = bottom[0]->cpu_data();
      const float* b = bottom[1]->cpu_data();
      for (int64_t i = 0; i < count; ++i) y[i] = a[i] * b[i];
      for (size_t n = 2; n < bottom.size(); ++n) {
        const float* x = bottom[n]->cpu_data();
        for (int64_t i = 0; i < count; ++i) y[i] *= x[i];
      }
      break;
    }
    case Op::SUM:
    {
      std::vector<const float*> xs;
      for (const Blob* b : bottom) xs.push_back(b->cpu_data());
      // Caffe's set-then-axpy per bottom, made block by block (one read of memory).
      ForEachBlock(count, [&](int64_t begin, int64_t end) {
        cpu_set(end - begin, 0.f, y + begin);
        for (size_t n = 0; n < xs.size(); ++n)
          cpu_axpy(end - begin, coeffs_[n], xs[n] + begin, y + begin);
      });
      break;
    }
    case Op::MAX: {
      int32_t* mask = max_idx_.mutable_cpu_data();
      const float* a = bottom[0]->cpu_data();
      const float* b = bottom[1]->cpu_data();
      for (int64_t i = 0; i < count; ++i) {
        if (a[i] > b[i]) {
          y[i] = a[i];
          mask[i] = 0;
        } else {
          y[i] = b[i];
          mask[i] = 1;
        }
      }
      for (size_t n = 2; n < bottom.size(); ++n) {
        const float* x = bottom[n]->cpu_data();
        for (int64_t i = 0; i < count; ++i) {
          if (x[i] > y[i]) {
            y[i] = x[i];
            mask[i] = int32_t(n);
          }
        }
      }
      break;
    }
  }
}

void EltwiseLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  const int64_t count = top[0]->count();
  const float* y = top[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  for (size_t n = 0; n < bottom.size(); ++n) {
    if (!propagate_down[n]) continue;
    const float* x = bottom[n]->cpu_data();
    float* dx = bottom[n]->mutable_cpu_diff();
    switch (op_) {
      case Op::PROD:
        if (stable_prod_grad_) {
          bool initialized = false;
          for (size_t m = 0; m < bottom.size(); ++m) {
            if (m == n) continue;
            const float* other = bottom[m]->cpu_data();
            if (!initialized) {
              cpu_copy(count, other, dx);
              initialized = true;
            } else {
              for (int64_t i = 0; i < count; ++i) dx[i] = other[i] * dx[i];
            }
          }
        } else {
          for (int64_t i = 0; i < count; ++i) dx[i] = y[i] / x[i];
        }
        for (int64_t i = 0; i < count; ++i) dx[i] = dx[i] * dy[i];
        break;
      case Op::SUM:
        ForEachBlock(count, [&, coeff = coeffs_[n]](int64_t begin, int64_t end) {
          if (coeff == 1.f) {
            cpu_copy(end - begin, dy + begin, dx + begin);
          } else {
            for (int64_t i = begin; i < end; ++i) dx[i] = coeff * dy[i];
          }
        });
        break;
      case Op::MAX: {
        const int32_t* mask = max_idx_.mutable_cpu_data();
        for (int64_t i = 0; i < count; ++i) {
          float gradient = 0.f;
          if (mask[i] == int32_t(n)) gradient += dy[i];
          dx[i] = gradient;
        }
        break;
      }
    }
  }
}

}  // namespace augdrop
