// Adam, as Caffe's src/caffe/solvers/adam_solver.cpp: first moment m in history_[i], second
// moment v in history_[n + i]. Caffe folds the bias correction of both moments into the rate,
// sqrt(1 - b2^t) / (1 - b1^t) with t = iter + 1, and adds delta to the uncorrected sqrt(v).
#include <cmath>

#include "net/solvers/solver.hpp"

namespace augdrop {

AdamSolver::AdamSolver(const Params& solver_param) : SGDSolver(solver_param) {
  // The second moments after all the first ones, as Caffe's AdamPreSolve.
  for (Blob* p : net_->learnable_params()) history_.push_back(std::make_shared<Blob>(p->shape()));
}

void AdamSolver::ComputeUpdateValue(int param_id, float rate) {
  Blob* p = net_->learnable_params()[param_id];
  const size_t offset = net_->learnable_params().size();
  const float local_rate = rate * net_->params_lr()[param_id];
  const float beta1 = float(param_.get_float("momentum", 0));
  const float beta2 = float(param_.get_float("momentum2", 0.999));
  const float eps_hat = float(param_.get_float("delta", 1e-8));
  const int t = int(iter_ + 1);
  // In double, then rounded to float, as Caffe's std::pow(float, int) promotes.
  const float correction = float(std::sqrt(1.0f - std::pow(beta2, t)) / (1.0f - std::pow(beta1, t)));
  const float scale = local_rate * correction;
  const int64_t n = p->count();
  float* g = p->mutable_cpu_diff();
  float* m = history_[param_id]->mutable_cpu_data();
  float* v = history_[offset + param_id]->mutable_cpu_data();
  for (int64_t i = 0; i < n; ++i) {
    m[i] = (1.f - beta1) * g[i] + beta1 * m[i];
    v[i] = (1.f - beta2) * (g[i] * g[i]) + beta2 * v[i];
    const float denom = std::pow(v[i], 0.5f) + eps_hat;
    g[i] = scale * (m[i] / denom);
  }
}

}  // namespace augdrop
