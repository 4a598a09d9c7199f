// AdaGrad, as Caffe's src/caffe/solvers/adagrad_solver.cpp: the history sums the squared
// gradients, and each step is scaled by the inverse root of that sum.
#include <cmath>

#include "net/solvers/solver.hpp"

namespace augdrop {

AdaGradSolver::AdaGradSolver(const Params& solver_param) : SGDSolver(solver_param) {
  AD_CHECK(float(param_.get_float("momentum", 0)) == 0,
           "momentum cannot be used with AdaGrad (set momentum: 0)");
}

void AdaGradSolver::ComputeUpdateValue(int param_id, float rate) {
  Blob* p = net_->learnable_params()[param_id];
  const float delta = float(param_.get_float("delta", 1e-8));
  const float local_rate = rate * net_->params_lr()[param_id];
  const int64_t n = p->count();
  float* g = p->mutable_cpu_diff();
  float* h = history_[param_id]->mutable_cpu_data();
  // Each line one of Caffe's vector passes, so that every intermediate rounds to float as there.
  for (int64_t i = 0; i < n; ++i) {
    h[i] = std::pow(g[i], 2.f) + h[i];
    const float denom = std::pow(h[i], 0.5f) + delta;
    g[i] = local_rate * (g[i] / denom);
  }
}

}  // namespace augdrop
