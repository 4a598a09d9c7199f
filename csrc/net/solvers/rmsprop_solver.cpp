// RMSProp, as Caffe's src/caffe/solvers/rmsprop_solver.cpp: the history is a running mean of
// the squared gradients (weight rms_decay on the old mean).
#include <cmath>

#include "net/solvers/solver.hpp"

namespace augdrop {

RMSPropSolver::RMSPropSolver(const Params& solver_param) : SGDSolver(solver_param) {
  AD_CHECK(float(param_.get_float("momentum", 0)) == 0,
           "momentum cannot be used with RMSProp (set momentum: 0)");
  const float rms_decay = float(param_.get_float("rms_decay", 0.99));
  AD_CHECK(rms_decay >= 0 && rms_decay < 1, "rms_decay must be in [0, 1), got " << rms_decay);
}

void RMSPropSolver::ComputeUpdateValue(int param_id, float rate) {
  Blob* p = net_->learnable_params()[param_id];
  const float delta = float(param_.get_float("delta", 1e-8));
  const float rms_decay = float(param_.get_float("rms_decay", 0.99));
  const float local_rate = rate * net_->params_lr()[param_id];
  const int64_t n = p->count();
  float* g = p->mutable_cpu_diff();
  float* h = history_[param_id]->mutable_cpu_data();
  for (int64_t i = 0; i < n; ++i) {
    h[i] = (1.f - rms_decay) * std::pow(g[i], 2.f) + rms_decay * h[i];
    const float denom = std::pow(h[i], 0.5f) + delta;
    g[i] = local_rate * (g[i] / denom);
  }
}

}  // namespace augdrop
