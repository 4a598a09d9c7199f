// Solver: the training loop of Caffe's solver.cpp (test at test_interval, iter_size forward/
// backward passes per iteration, then the update), with SGD and Nesterov updates
// (sgd_solver.cpp, nesterov_solver.cpp). The nets arrive inline in the SolverParameter
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
  std::vector<std::shared_ptr<Blob>>& history() { return history_; }

 protected:
  // Returns the learning rate it used.
  float ApplyUpdate();
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

// "SGD" or "Nesterov" from solver_param.type (or the legacy solver_type enum).
std::unique_ptr<SGDSolver> CreateSolver(const Params& solver_param);

}  // namespace augdrop
