// AdaDelta, as Caffe's src/caffe/solvers/adadelta_solver.cpp: running means (weight
// `momentum` on the old mean) of the squared gradients (history_[i]) and of the squared
// updates (history_[n + i]); the update is the gradient times the ratio of their roots, then
// times the learning rate (Caffe applies base_lr and lr_mult too, unlike the paper).
#include <cmath>

#include "net/solvers/solver.hpp"

namespace augdrop {

AdaDeltaSolver::AdaDeltaSolver(const Params& solver_param) : SGDSolver(solver_param) {
  // The second history after all the first ones, as Caffe's AdaDeltaPreSolve.
  for (Blob* p : net_->learnable_params()) history_.push_back(std::make_shared<Blob>(p->shape()));
}

void AdaDeltaSolver::ComputeUpdateValue(int param_id, float rate) {
  Blob* p = net_->learnable_params()[param_id];
  const size_t offset = net_->learnable_params().size();
  const float delta = float(param_.get_float("delta", 1e-8));
  const float momentum = float(param_.get_float("momentum", 0));
  const float local_rate = rate * net_->params_lr()[param_id];
  const int64_t n = p->count();
  float* g = p->mutable_cpu_diff();
  float* h = history_[param_id]->mutable_cpu_data();
  float* h2 = history_[offset + param_id]->mutable_cpu_data();
  for (int64_t i = 0; i < n; ++i) {
    h[i] = (1.f - momentum) * std::pow(g[i], 2.f) + momentum * h[i];
    const float ratio = (delta + h2[i]) / (delta + h[i]);
    const float u = g[i] * std::pow(ratio, 0.5f);
    h2[i] = (1.f - momentum) * std::pow(u, 2.f) + momentum * h2[i];
    g[i] = local_rate * u;
  }
}

}  // namespace augdrop
