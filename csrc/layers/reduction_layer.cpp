#include "layers/reduction_layer.hpp"

#include <string>

#include "math/math_functions.hpp"

namespace augdrop {

void ReductionLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const std::string op =
      layer_param_.get_message("reduction_param").get_string("operation", "SUM");
  if (op == "SUM")
    op_ = Op::SUM;
  else if (op == "ASUM")
    op_ = Op::ASUM;
  else if (op == "SUMSQ")
    op_ = Op::SUMSQ;
  else if (op == "MEAN")
    op_ = Op::MEAN;
  else
    AD_FAIL("Unknown reduction op: " << op);
}

void ReductionLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("reduction_param");
  axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 0)));
  // The axes before axis_ are kept, every axis from it on is reduced.
  top[0]->Reshape(std::vector<int64_t>(bottom[0]->shape().begin(),
                                       bottom[0]->shape().begin() + axis_));
  num_ = bottom[0]->count(0, axis_);
  dim_ = bottom[0]->count(axis_);
  coeff_ = static_cast<float>(p.get_float("coeff", 1.0));
  if (op_ == Op::MEAN) coeff_ /= float(dim_);
}

void ReductionLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  for (int64_t r = 0; r < num_; ++r, x += dim_) {
    switch (op_) {
      case Op::SUM:
      case Op::MEAN: {
        double s = 0;
        for (int64_t k = 0; k < dim_; ++k) s += x[k];
        y[r] = static_cast<float>(s);
        break;
      }
      case Op::ASUM:
        y[r] = cpu_asum(dim_, x);
        break;
      case Op::SUMSQ:
        y[r] = cpu_dot(dim_, x, x);
        break;
    }
  }
  if (coeff_ != 1.f) cpu_scal(num_, coeff_, y);
}

void ReductionLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  for (int64_t r = 0; r < num_; ++r, x += dim_, dx += dim_) {
    const float c = dy[r] * coeff_;
    switch (op_) {
      case Op::SUM:
      case Op::MEAN:
        cpu_set(dim_, c, dx);
        break;
      case Op::ASUM:
        for (int64_t k = 0; k < dim_; ++k) dx[k] = c * float((0.f < x[k]) - (x[k] < 0.f));
        break;
      case Op::SUMSQ:
        for (int64_t k = 0; k < dim_; ++k) dx[k] = (2 * c) * x[k];
        break;
    }
  }
}

}  // namespace augdrop
