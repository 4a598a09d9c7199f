// Solver: the training loop of Caffe's solver.cpp (test at test_interval, iter_size forward/
// backward passes per iteration, then the update), with the updates of Caffe's six solvers
// (sgd_solvers.hpp: SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam; one .cpp each). The nets arrive inline in the SolverParameter
// (net_param, train_net_param, test_net_param): the Python driver resolves file names.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/net.hpp"

namespace augdrop {

struct TestResult {
  int64_t iter;
  int test_net;
  std::vector<std::string> names;  // one per output value ("accuracy", "loss", ...)
  std::vector<float> values;       // mean over test_iter batches
  std::vector<float> loss_weights;
};

// What the caller asks of the loop between iterations (Caffe's SolverAction::Enum).
enum class SolverAction { NONE, STOP, SNAPSHOT };

// A point of the training loop where Caffe logs or snapshots. Step hands each to its caller,
// who logs and writes snapshots, so that the loop has one owner and nothing accumulates here.
struct SolverEvent {
  enum class Kind { TEST, DISPLAY, SNAPSHOT };
  Kind kind;
  int64_t iter;                   // TEST, SNAPSHOT: iter_ then; DISPLAY: the iteration just run
  double smoothed_loss = 0;       // DISPLAY: the mean loss of the last average_loss iterations
  float rate = 0;                 // DISPLAY: the learning rate that iteration used
  std::vector<TestResult> tests;  // TEST: one per test net
};

// The caller's side of Step; either may be empty.
struct StepHooks {
  // Asked after every iteration (Caffe's GetRequestedAction): SNAPSHOT adds a SNAPSHOT event,
  // STOP ends Step there.
  std::function<SolverAction()> action;
  // Called at each event; STOP ends Step at the end of the current iteration.
  std::function<SolverAction(const SolverEvent&)> on_event;
  // Caffe's Solver::Callback points: on_start before the iteration's forward/backward passes,
  // on_gradients_ready between them and the update. STOP (a failed callback) ends Step at
  // once, before the rest of that iteration: iter_ and the params are left as they were.
  std::function<SolverAction()> on_start;
  std::function<SolverAction()> on_gradients_ready;
};

class SGDSolver {
 public:
  explicit SGDSolver(const Params& solver_param);
  virtual ~SGDSolver() = default;
  virtual const char* type() const { return "SGD"; }

  // Runs iters training iterations (Solver::Step), fewer when a hook asks to stop; the
  // iterations run are always whole ones (iter_ counts them).
  void Step(int64_t iters, const StepHooks& hooks = {});
  // Step until max_iter, then the final test as Caffe's Solver::Solve (not after a stop).
  void Solve(const StepHooks& hooks = {});
  std::vector<TestResult> TestAll();
  TestResult Test(int test_net_id);

  // The learning rate for the current iteration; advances multistep's current_step.
  float GetLearningRate();

  Net& net() { return *net_; }
  const std::vector<std::shared_ptr<Net>>& test_nets() const { return test_nets_; }
  // Whether the last Step ended because a hook asked it to stop.
  bool requested_early_exit() const { return requested_early_exit_; }
  std::shared_ptr<Net> shared_net() { return net_; }
  int64_t iter() const { return iter_; }
  void set_iter(int64_t iter) { iter_ = iter; }
  int64_t current_step() const { return current_step_; }
  void set_current_step(int64_t step) { current_step_ = step; }
  const Params& param() const { return param_; }
  // Caffe's history_: one blob per learnable param, then (AdaDelta, Adam) a second one per
  // param; a .solverstate holds them in this order.
  std::vector<std::shared_ptr<Blob>>& history() { return history_; }
  // Replaces one scalar field of the solver's parameters (pycaffe's solver.param.base_lr = x).
  void set_param_field(const std::string& name, const ParamValue& value);

  // Regularize, clip and apply the current gradients at the current learning rate, as
  // Caffe's ApplyUpdate (iter_ unchanged); returns the learning rate it used.
  float ApplyUpdate();

 protected:
  // Adds an iteration's loss to the display window; returns the window's mean.
  double UpdateSmoothedLoss(float loss);
  void ClipGradients();
  void Normalize(int param_id);
  void Regularize(int param_id);
  virtual void ComputeUpdateValue(int param_id, float rate);
  // When the loss is not finite: the first layer whose output is not finite, by name.
  [[noreturn]] void FailOnNonFiniteLoss(float loss);

  Params param_;
  std::shared_ptr<Net> net_;
  std::vector<std::shared_ptr<Net>> test_nets_;
  int64_t iter_ = 0;
  int64_t current_step_ = 0;
  bool requested_early_exit_ = false;
  // The last average_loss iteration losses of this Step (a ring; next_loss_ is the oldest).
  std::vector<float> losses_;
  size_t next_loss_ = 0;
  std::vector<std::shared_ptr<Blob>> history_;  // momentum buffers, one per learnable param
  std::vector<std::shared_ptr<Blob>> update_;   // Nesterov's scratch
};

class NesterovSolver : public SGDSolver {
 public:
  using SGDSolver::SGDSolver;
  const char* type() const override { return "Nesterov"; }

 protected:
  void ComputeUpdateValue(int param_id, float rate) override;
};

// The adaptive solvers (adagrad_solver.cpp, rmsprop_solver.cpp, adadelta_solver.cpp,
// adam_solver.cpp). DEVIATION: they have no CUDA kernels of their own (nor has the SGD update):
// in GPU mode their update runs on the host, the blobs moved by SyncedMemory.

// h += g^2; g = lr * g / (sqrt(h) + delta). Momentum must be 0.
class AdaGradSolver : public SGDSolver {
 public:
  explicit AdaGradSolver(const Params& solver_param);
  const char* type() const override { return "AdaGrad"; }

 protected:
  void ComputeUpdateValue(int param_id, float rate) override;
};

// h = rms_decay h + (1 - rms_decay) g^2; g = lr * g / (sqrt(h) + delta). Momentum must be 0.
class RMSPropSolver : public SGDSolver {
 public:
  explicit RMSPropSolver(const Params& solver_param);
  const char* type() const override { return "RMSProp"; }

 protected:
  void ComputeUpdateValue(int param_id, float rate) override;
};

// With m = momentum: h = m h + (1-m) g^2; u = g * sqrt((h2 + delta) / (h + delta));
// h2 = m h2 + (1-m) u^2; g = lr * u. history_[n + i] is h2 (the squared updates).
class AdaDeltaSolver : public SGDSolver {
 public:
  explicit AdaDeltaSolver(const Params& solver_param);
  const char* type() const override { return "AdaDelta"; }

 protected:
  void ComputeUpdateValue(int param_id, float rate) override;
};

// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; with t = iter + 1,
// g = lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + delta): the bias correction goes into
// the rate, and delta is added to sqrt(v) uncorrected, as Caffe. history_[n + i] is v.
class AdamSolver : public SGDSolver {
 public:
  explicit AdamSolver(const Params& solver_param);
  const char* type() const override { return "Adam"; }

 protected:
  void ComputeUpdateValue(int param_id, float rate) override;
};

// The solver solver_param.type names ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta",
// "Adam"), or the legacy solver_type enum (SGD, NESTEROV, ADAGRAD, ...) when type is unset.
std::unique_ptr<SGDSolver> CreateSolver(const Params& solver_param);

}  // namespace augdrop
