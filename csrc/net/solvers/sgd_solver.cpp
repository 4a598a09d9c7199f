#include <cmath>
#include <map>
#include <variant>

#include "core/rng.hpp"
#include "core/mode.hpp"
#include "math/math_functions.hpp"
#include "net/solvers/solver.hpp"

namespace augdrop {
namespace {

Phase ParsePhaseField(const Params& state, Phase def) {
  if (!state.has("phase")) return def;
  return state.get_string("phase", "") == "TEST" ? Phase::TEST : Phase::TRAIN;
}

}  // namespace

SGDSolver::SGDSolver(const Params& solver_param) : param_(solver_param) {
  // Caffe seeds the stream before it builds the nets, so the fillers draw from it.
  if (param_.get_int("random_seed", -1) >= 0) set_random_seed(uint64_t(param_.get_int("random_seed", -1)));
  const bool has_net = param_.has("net_param");
  const bool has_train = param_.has("train_net_param");
  AD_CHECK(has_net != has_train,
           "the solver needs exactly one training net (net or train_net), got "
               << (int(has_net) + int(has_train)));
  const Params& train_param = param_.get_message(has_net ? "net_param" : "train_net_param");
  const Params& train_state = param_.get_message("train_state");
  net_ = std::make_shared<Net>(train_param, Phase::TRAIN, int(train_state.get_int("level", 0)),
                               train_state.get_strings("stage"));

  // Test nets: the explicit test_net_params first, then the generic net for the rest of the
  // test_iter entries (solver.cpp InitTestNets).
  const auto test_params = param_.get_messages("test_net_param");
  const auto test_iters = param_.get_ints("test_iter");
  const auto test_states = param_.get_messages("test_state");
  std::vector<const Params*> sources(test_params.begin(), test_params.end());
  if (has_net) {
    while (sources.size() < test_iters.size()) sources.push_back(&train_param);
  }
  AD_CHECK(test_iters.size() == sources.size(),
           "test_iter must be given once per test net (" << sources.size() << " test nets, "
                                                         << test_iters.size() << " test_iter)");
  for (size_t i = 0; i < sources.size(); ++i) {
    const Params* state = i < test_states.size() ? test_states[i] : nullptr;
    AD_CHECK(!state || ParsePhaseField(*state, Phase::TEST) == Phase::TEST,
             "test_state " << i << " must have phase TEST");
    test_nets_.push_back(std::make_shared<Net>(
        *sources[i], Phase::TEST, state ? int(state->get_int("level", 0)) : 0,
        state ? state->get_strings("stage") : std::vector<std::string>{}));
    test_nets_.back()->ShareTrainedLayersWith(*net_);
  }
  for (Blob* p : net_->learnable_params()) {
    history_.push_back(std::make_shared<Blob>(p->shape()));
    update_.push_back(std::make_shared<Blob>(p->shape()));
  }
}

float SGDSolver::GetLearningRate() {
  const std::string policy = param_.get_string("lr_policy", "");
  const double base_lr = float(param_.get_float("base_lr", 0));
  const double gamma = float(param_.get_float("gamma", 0));
  const double power = float(param_.get_float("power", 0));
  const int64_t stepsize = param_.get_int("stepsize", 0);
  if (policy == "fixed") return float(base_lr);
  if (policy == "step") {
    AD_CHECK(stepsize > 0, "lr_policy step needs a positive stepsize");
    current_step_ = iter_ / stepsize;
    return float(base_lr * std::pow(gamma, double(current_step_)));
  }
  if (policy == "exp") return float(base_lr * std::pow(gamma, double(iter_)));
  if (policy == "inv") return float(base_lr * std::pow(1.0 + gamma * double(iter_), -power));
  if (policy == "multistep") {
    const auto steps = param_.get_ints("stepvalue");
    if (current_step_ < int64_t(steps.size()) && iter_ >= steps[current_step_]) ++current_step_;
    return float(base_lr * std::pow(gamma, double(current_step_)));
  }
  if (policy == "poly") {
    const double max_iter = double(param_.get_int("max_iter", 0));
    return float(base_lr * std::pow(1.0 - double(iter_) / max_iter, power));
  }
  if (policy == "sigmoid")
    return float(base_lr * (1.0 / (1.0 + std::exp(-gamma * (double(iter_) - double(stepsize))))));
  AD_FAIL("unknown lr_policy '" << policy
                                << "' (fixed, step, exp, inv, multistep, poly, sigmoid)");
}

void SGDSolver::Step(int64_t iters, const StepHooks& hooks) {
  const int64_t stop_iter = iter_ + iters;
  const int64_t test_interval = param_.get_int("test_interval", 0);
  const bool test_init = param_.get_bool("test_initialization", true);
  const int64_t iter_size = param_.get_int("iter_size", 1);
  const int64_t display = param_.get_int("display", 0);
  const int64_t snapshot = param_.get_int("snapshot", 0);
  AD_CHECK(iter_size >= 1, "iter_size must be at least 1");
  AD_CHECK(param_.get_int("average_loss", 1) >= 1, "average_loss must be at least 1");
  // Each Step starts its own display window, as Caffe's Step clears losses_.
  losses_.clear();
  next_loss_ = 0;
  requested_early_exit_ = false;
  auto emit = [&](const SolverEvent& event) {
    return hooks.on_event ? hooks.on_event(event) : SolverAction::NONE;
  };
  while (iter_ < stop_iter) {
    // A stop asked for by an event callback takes effect once this iteration is whole, so
    // that iter_ counts only complete iterations and a snapshot then resumes exactly.
    bool stop = false;
    net_->ClearParamDiffs();
    if (test_interval > 0 && iter_ % test_interval == 0 && (iter_ > 0 || test_init)) {
      SolverEvent event{SolverEvent::Kind::TEST, iter_};
      event.tests = TestAll();
      stop |= emit(event) == SolverAction::STOP;
    }
    if (hooks.on_start && hooks.on_start() == SolverAction::STOP) {
      requested_early_exit_ = true;
      break;
    }
    float loss = 0;
    for (int64_t i = 0; i < iter_size; ++i) loss += net_->ForwardBackward();
    loss /= float(iter_size);
    if (!std::isfinite(loss)) FailOnNonFiniteLoss(loss);
    const double smoothed_loss = UpdateSmoothedLoss(loss);
    if (hooks.on_gradients_ready && hooks.on_gradients_ready() == SolverAction::STOP) {
      requested_early_exit_ = true;
      break;
    }
    const float rate = ApplyUpdate();
    if (display > 0 && iter_ % display == 0) {
      SolverEvent event{SolverEvent::Kind::DISPLAY, iter_};
      event.smoothed_loss = smoothed_loss;
      event.rate = rate;
      stop |= emit(event) == SolverAction::STOP;
    }
    ++iter_;
    const SolverAction request = hooks.action ? hooks.action() : SolverAction::NONE;
    if ((snapshot > 0 && iter_ % snapshot == 0) || request == SolverAction::SNAPSHOT) {
      stop |= emit(SolverEvent{SolverEvent::Kind::SNAPSHOT, iter_}) == SolverAction::STOP;
    }
    if (stop || request == SolverAction::STOP) {
      requested_early_exit_ = true;
      break;
    }
  }
}

double SGDSolver::UpdateSmoothedLoss(float loss) {
  // DEVIATION: Caffe keeps a running float mean (solver.cpp UpdateSmoothedLoss); this project
  // has always logged the exact mean of the window, summed oldest first in double, and the
  // display lines and the records' train curves keep those values.
  const size_t window = size_t(param_.get_int("average_loss", 1));
  if (losses_.size() < window) {
    losses_.push_back(loss);
  } else {
    losses_[next_loss_] = loss;
    next_loss_ = (next_loss_ + 1) % window;
  }
  double sum = 0;
  for (size_t k = 0; k < losses_.size(); ++k) sum += losses_[(next_loss_ + k) % losses_.size()];
  return sum / double(losses_.size());
}

void SGDSolver::Solve(const StepHooks& hooks) {
  const int64_t max_iter = param_.get_int("max_iter", 0);
  requested_early_exit_ = false;
  if (iter_ < max_iter) Step(max_iter - iter_, hooks);
  if (requested_early_exit_) return;  // as Caffe: "Optimization stopped early", no final test
  const int64_t test_interval = param_.get_int("test_interval", 0);
  if (test_interval > 0 && iter_ % test_interval == 0) {
    SolverEvent event{SolverEvent::Kind::TEST, iter_};
    event.tests = TestAll();
    if (hooks.on_event) hooks.on_event(event);
  }
}

std::vector<TestResult> SGDSolver::TestAll() {
  std::vector<TestResult> out;
  for (int i = 0; i < int(test_nets_.size()); ++i) out.push_back(Test(i));
  return out;
}

TestResult SGDSolver::Test(int test_net_id) {
  AD_CHECK(test_net_id >= 0 && test_net_id < int(test_nets_.size()),
           "no test net " << test_net_id);
  Net& net = *test_nets_[test_net_id];
  const int64_t test_iter = param_.get_ints("test_iter").at(test_net_id);
  TestResult result{iter_, test_net_id, {}, {}, {}};
  std::vector<double> sums;
  for (int64_t k = 0; k < test_iter; ++k) {
    net.Forward();
    int slot = 0;
    for (int id : net.output_blob_indices()) {
      const Blob& b = *net.blobs()[id];
      const float* d = b.cpu_data();
      for (int64_t j = 0; j < b.count(); ++j, ++slot) {
        if (k == 0) {
          sums.push_back(0);
          result.names.push_back(b.count() == 1 ? net.blob_names()[id]
                                                : net.blob_names()[id] + "[" + std::to_string(j) + "]");
          result.loss_weights.push_back(net.blob_loss_weight(id));
        }
        sums[slot] += d[j];
      }
    }
  }
  for (double s : sums) result.values.push_back(float(s / double(test_iter)));
  return result;
}

float SGDSolver::ApplyUpdate() {
  const float rate = GetLearningRate();
  ClipGradients();
  for (int i = 0; i < int(net_->learnable_params().size()); ++i) {
    Normalize(i);
    Regularize(i);
    ComputeUpdateValue(i, rate);
  }
  net_->Update();
  return rate;
}

void SGDSolver::ClipGradients() {
  const float clip = float(param_.get_float("clip_gradients", -1));
  if (clip < 0) return;
  double sumsq = 0;
  for (Blob* p : net_->learnable_params()) sumsq += p->sumsq_diff();
  const float norm = float(std::sqrt(sumsq));
  if (norm > clip) {
    const float factor = clip / norm;
    for (Blob* p : net_->learnable_params()) p->scale_diff(factor);
  }
}

void SGDSolver::Normalize(int param_id) {
  const int64_t iter_size = param_.get_int("iter_size", 1);
  if (iter_size == 1) return;
  Blob* p = net_->learnable_params()[param_id];
#ifdef AUGDROP_WITH_CUDA
  if (GetMode() == Mode::GPU) {
    gpu_scal(p->count(), 1.f / float(iter_size), p->mutable_gpu_diff());
    return;
  }
#endif
  cpu_scal(p->count(), 1.f / float(iter_size), p->mutable_cpu_diff());
}

void SGDSolver::Regularize(int param_id) {
  Blob* p = net_->learnable_params()[param_id];
  const float decay = float(param_.get_float("weight_decay", 0)) *
                      net_->params_weight_decay()[param_id];
  if (decay == 0) return;
  const std::string type = param_.get_string("regularization_type", "L2");
  AD_CHECK(type == "L2" || type == "L1", "unknown regularization_type '" << type << "' (L2 or L1)");
#ifdef AUGDROP_WITH_CUDA
  if (GetMode() == Mode::GPU) {
    float* diff = p->mutable_gpu_diff();
    if (type == "L2") {
      gpu_axpy(p->count(), decay, p->gpu_data(), diff);
    } else {  // the sign in the update_ scratch (Nesterov overwrites it before use)
      float* sign = update_[param_id]->mutable_gpu_data();
      gpu_sign(p->count(), p->gpu_data(), sign);
      gpu_axpy(p->count(), decay, sign, diff);
    }
    return;
  }
#endif
  float* diff = p->mutable_cpu_diff();
  const float* data = p->cpu_data();
  if (type == "L2") {
    cpu_axpy(p->count(), decay, data, diff);
  } else if (type == "L1") {
    for (int64_t i = 0; i < p->count(); ++i)
      diff[i] += decay * float((data[i] > 0) - (data[i] < 0));
  } else {
    AD_FAIL("unknown regularization_type '" << type << "' (L2 or L1)");
  }
}

void SGDSolver::ComputeUpdateValue(int param_id, float rate) {
  Blob* p = net_->learnable_params()[param_id];
  const float momentum = float(param_.get_float("momentum", 0));
  const float local_rate = rate * net_->params_lr()[param_id];
#ifdef AUGDROP_WITH_CUDA
  if (GetMode() == Mode::GPU) {
    float* history = history_[param_id]->mutable_gpu_data();
    gpu_axpby(p->count(), local_rate, p->gpu_diff(), momentum, history);
    gpu_copy(p->count(), history, p->mutable_gpu_diff());
    return;
  }
#endif
  float* history = history_[param_id]->mutable_cpu_data();
  // history = local_rate * diff + momentum * history; diff = history
  cpu_axpby(p->count(), local_rate, p->cpu_diff(), momentum, history);
  cpu_copy(p->count(), history, p->mutable_cpu_diff());
}

void SGDSolver::FailOnNonFiniteLoss(float loss) {
  for (size_t i = 0; i < net_->layers().size(); ++i) {
    for (int id : net_->top_ids()[i]) {
      const Blob& b = *net_->blobs()[id];
      const float* d = b.cpu_data();
      for (int64_t j = 0; j < b.count(); ++j) {
        if (!std::isfinite(d[j])) {
          AD_LAYER_FAIL(net_->layer_names()[i], net_->layers()[i]->type(),
                        "the loss is " << loss << " at iteration " << iter_
                            << " and this layer is the first to output a non-finite value, in blob '"
                            << net_->blob_names()[id] << "'; lower base_lr or check the input data");
        }
      }
    }
  }
  AD_FAIL("loss is " << loss << " at iteration " << iter_);
}

void NesterovSolver::ComputeUpdateValue(int param_id, float rate) {
  Blob* p = net_->learnable_params()[param_id];
  const int64_t n = p->count();
  const float momentum = float(param_.get_float("momentum", 0));
  const float local_rate = rate * net_->params_lr()[param_id];
#ifdef AUGDROP_WITH_CUDA
  if (GetMode() == Mode::GPU) {
    float* history = history_[param_id]->mutable_gpu_data();
    float* update = update_[param_id]->mutable_gpu_data();
    gpu_copy(n, history, update);
    gpu_axpby(n, local_rate, p->gpu_diff(), momentum, history);
    gpu_axpby(n, 1.f + momentum, history, -momentum, update);
    gpu_copy(n, update, p->mutable_gpu_diff());
    return;
  }
#endif
  float* history = history_[param_id]->mutable_cpu_data();
  float* update = update_[param_id]->mutable_cpu_data();
  cpu_copy(n, history, update);                                   // previous history
  cpu_axpby(n, local_rate, p->cpu_diff(), momentum, history);     // new history
  cpu_axpby(n, 1.f + momentum, history, -momentum, update);       // (1+m) h - m h_prev
  cpu_copy(n, update, p->mutable_cpu_diff());
}

void SGDSolver::set_param_field(const std::string& name, const ParamValue& value) {
  AD_CHECK(!std::holds_alternative<std::shared_ptr<Params>>(value),
           "solver field '" << name << "': only scalar fields can be set");
  param_.set(name, value);
}

std::unique_ptr<SGDSolver> CreateSolver(const Params& solver_param) {
  std::string type = solver_param.get_string("type", "");
  if (type.empty()) {
    // The legacy enum, as Caffe's UpgradeSolverType names it.
    static const std::map<std::string, std::string> legacy = {
        {"SGD", "SGD"},         {"NESTEROV", "Nesterov"}, {"ADAGRAD", "AdaGrad"},
        {"RMSPROP", "RMSProp"}, {"ADADELTA", "AdaDelta"}, {"ADAM", "Adam"}};
    const std::string name = solver_param.get_string("solver_type", "SGD");
    auto it = legacy.find(name);
    AD_CHECK(it != legacy.end(), "unknown solver_type " << name);
    type = it->second;
  }
  if (type == "SGD") return std::make_unique<SGDSolver>(solver_param);
  if (type == "Nesterov") return std::make_unique<NesterovSolver>(solver_param);
  if (type == "AdaGrad") return std::make_unique<AdaGradSolver>(solver_param);
  if (type == "RMSProp") return std::make_unique<RMSPropSolver>(solver_param);
  if (type == "AdaDelta") return std::make_unique<AdaDeltaSolver>(solver_param);
  if (type == "Adam") return std::make_unique<AdamSolver>(solver_param);
  AD_FAIL("solver type '" << type
                          << "' is not supported (SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam)");
}

}  // namespace augdrop
