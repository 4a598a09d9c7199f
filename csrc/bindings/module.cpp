// The Python face of the core, and nothing more: type conversion, zero-copy numpy views of
// blob data and diffs, and the mapping of augdrop::Error to a Python exception.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/data_binding.hpp"
#include "bindings/record_stream_binding.hpp"
#include "core/errors.hpp"
#include "core/mode.hpp"
#include "core/parallel.hpp"
#ifdef AUGDROP_WITH_CUDA
#include "core/cuda_device.hpp"
#endif
#include "core/rng.hpp"
#include "data/dataset_registry.hpp"
#include "layers/conv_layer.hpp"
#include "layers/python_layer.hpp"
#include "math/math_functions.hpp"
#include "net/layer_registry.hpp"
#include "net/net.hpp"
#include "net/solvers/solver.hpp"

namespace py = pybind11;
using namespace augdrop;

namespace {

// A parsed message from the Python driver: dict[str, list[bool|int|float|str|dict]].
Params ToParams(const py::dict& d) {
  Params p;
  for (auto item : d) {
    const std::string key = py::cast<std::string>(item.first);
    auto& values = p.fields[key];
    py::handle v = item.second;
    py::list list = py::isinstance<py::list>(v) ? py::reinterpret_borrow<py::list>(v) : py::list();
    if (!py::isinstance<py::list>(v)) list.append(v);
    for (py::handle x : list) {
      if (py::isinstance<py::bool_>(x)) values.emplace_back(py::cast<bool>(x));
      else if (py::isinstance<py::int_>(x)) values.emplace_back(py::cast<int64_t>(x));
      else if (py::isinstance<py::float_>(x)) values.emplace_back(py::cast<double>(x));
      else if (py::isinstance<py::str>(x)) values.emplace_back(py::cast<std::string>(x));
      else if (py::isinstance<py::dict>(x))
        values.emplace_back(std::make_shared<Params>(ToParams(py::reinterpret_borrow<py::dict>(x))));
      else
        throw Error("field '" + key + "' has a value of unsupported type " +
                    std::string(py::str(py::type::of(x))));
    }
  }
  return p;
}

Phase ToPhase(int phase) {
  if (phase == 0) return Phase::TRAIN;
  if (phase == 1) return Phase::TEST;
  throw Error("phase must be TRAIN (0) or TEST (1), got " + std::to_string(phase));
}

// A numpy view of a blob's data or diff. It owns a reference to the memory itself, not to
// the blob: after a Reshape that reallocates, an old view is stale but never dangling.
py::array View(const std::shared_ptr<Blob>& blob, bool diff) {
  std::vector<py::ssize_t> shape(blob->shape().begin(), blob->shape().end());
  float* ptr = diff ? blob->mutable_cpu_diff() : blob->mutable_cpu_data();
  auto* owner = new std::shared_ptr<SyncedMemory>(diff ? blob->diff_memory() : blob->data_memory());
  py::capsule base(owner, [](void* p) { delete static_cast<std::shared_ptr<SyncedMemory>*>(p); });
  return py::array_t<float>(shape, ptr, base);
}

const char* EventKindName(SolverEvent::Kind kind) {
  switch (kind) {
    case SolverEvent::Kind::TEST: return "test";
    case SolverEvent::Kind::DISPLAY: return "display";
    case SolverEvent::Kind::SNAPSHOT: return "snapshot";
  }
  return "?";
}

SolverAction ToSolverAction(const py::handle& value) {
  if (value.is_none()) return SolverAction::NONE;
  const std::string name = py::isinstance<py::str>(value) ? py::cast<std::string>(value) : "";
  if (name == "none") return SolverAction::NONE;
  if (name == "stop") return SolverAction::STOP;
  if (name == "snapshot") return SolverAction::SNAPSHOT;
  // Raised as a Python error, so that the loop's hooks hold it like any other.
  const std::string message = "a solver action is None, 'none', 'stop' or 'snapshot', not " +
                              std::string(py::repr(value));
  PyErr_SetString(PyExc_ValueError, message.c_str());
  throw py::error_already_set();
}

// Step (or Solve) with the GIL released. Between iterations the hooks take the GIL back: they
// run Python's pending signal handlers (PyErr_CheckSignals), then the caller's action() and, at
// display, test and snapshot points, on_event(event). A Python exception raised there
// (KeyboardInterrupt from Ctrl-C above all) stops the loop once the current iteration is whole
// and is raised when it has returned, so the solver's iter counts only complete iterations.
// callbacks: (on_start, on_gradients_ready) pairs, pycaffe's Solver.add_callback, called at
// Caffe's points of each iteration; an exception there ends the loop at once (before the rest
// of the iteration) and is raised.
void RunSolverLoop(SGDSolver& solver, bool solve, int64_t iters, const py::object& on_event,
                   const py::object& action, const py::list& callbacks = py::list()) {
  std::unique_ptr<py::error_already_set> pending;
  auto guarded = [&pending](auto&& body) -> SolverAction {
    py::gil_scoped_acquire gil;
    if (pending) return SolverAction::STOP;
    try {
      return body();
    } catch (py::error_already_set& e) {
      pending = std::make_unique<py::error_already_set>(std::move(e));
      return SolverAction::STOP;
    }
  };
  StepHooks hooks;
  hooks.action = [&]() {
    return guarded([&]() {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      return action.is_none() ? SolverAction::NONE : ToSolverAction(action());
    });
  };
  if (!on_event.is_none()) {
    hooks.on_event = [&](const SolverEvent& event) {
      return guarded([&]() { return ToSolverAction(on_event(event)); });
    };
  }
  if (!callbacks.empty()) {
    auto call_all = [&](int which) {
      return guarded([&]() {
        for (py::handle pair : callbacks) py::reinterpret_borrow<py::tuple>(pair)[which]();
        return SolverAction::NONE;
      });
    };
    hooks.on_start = [call_all]() { return call_all(0); };
    hooks.on_gradients_ready = [call_all]() { return call_all(1); };
  }
  {
    py::gil_scoped_release release;
    if (solve) solver.Solve(hooks);
    else solver.Step(iters, hooks);
  }
  if (pending) {
    pending->restore();
    throw py::error_already_set();
  }
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "augdrop-caffe compiled core";
  // augdrop::Error -> EngineError, a RuntimeError whose attributes layer and layer_type name
  // the layer that failed (None when no layer is involved); the driver fills filename and
  // line where it knows the prototxt the layer came from.
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> engine_error;
  engine_error.call_once_and_store_result([&]() {
    py::object type = py::exception<Error>(m, "EngineError", PyExc_RuntimeError);
    for (const char* field : {"layer", "layer_type", "filename", "line"})
      type.attr(field) = py::none();
    return type;
  });
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object type = engine_error.get_stored();
      py::object err = type(e.what());
      if (e.has_layer()) {
        err.attr("layer") = e.layer();
        err.attr("layer_type") = e.layer_type();
      }
      py::set_error(type, err);
    }
  });

  m.def("set_random_seed", [](uint64_t seed) { set_random_seed(seed); },
        "Reseed Caffe's CPU random stream (one mt19937), as caffe.set_random_seed.");
  m.def("rng_words", [](int64_t n) {
    py::array_t<uint32_t> a(n);
    for (int64_t i = 0; i < n; ++i) a.mutable_data()[i] = caffe_rng_rand();
    return a;
  }, "Draw n raw words from the stream, one at a time (for tests).");
  m.def("rng_fill", [](int64_t n) {
    py::array_t<uint32_t> a(n);
    caffe_rng().Fill(n, a.mutable_data());
    return a;
  }, "Draw n raw words from the stream at once, the SIMD path (for tests).");
  m.def("rng_bernoulli", [](int64_t n, double p) {
    py::array_t<uint32_t> a(n);
    caffe_rng_bernoulli(n, p, a.mutable_data());
    return a;
  }, "caffe_rng_bernoulli<double>(n, p), Dropout's mask (for tests).");
  m.def("rng_bernoulli_float", [](int64_t n, float p) {
    py::array_t<uint32_t> a(n);
    caffe_rng_bernoulli_float(n, p, a.mutable_data());
    return a;
  }, "caffe_rng_bernoulli<float>(n, p) (for tests).");
  m.def("rng_state", []() { return caffe_rng().state(); });
  m.def("set_rng_state", [](const std::string& s) { caffe_rng().set_state(s); });
  m.def("layer_types", &RegisteredLayerTypes);
  m.def("filter_layers", [](const py::dict& net_param, int phase, int level,
                            std::vector<std::string> stages) {
    const Params param = ToParams(net_param);
    const NetState state = ResolveNetState(param, ToPhase(phase), level, stages);
    return FilterLayers(param, state.phase, state.level, state.stages);
  }, py::arg("net_param"), py::arg("phase"), py::arg("level") = 0,
     py::arg("stages") = std::vector<std::string>{},
     "Indices of the layers a Net of this phase, level and stages keeps (Caffe's FilterNet).");
  m.def("_raise_in_parallel_region_for_tests", [](int64_t n, std::vector<int64_t> failing,
                                                  bool foreign) {
    // Test hook: runs ParallelFor over n iterations, throwing from the iterations listed
    // (augdrop::Error, or std::runtime_error when foreign), to show that an exception inside
    // a parallel region reaches Python instead of terminating the process.
    ParallelFor(n, [&](int64_t i, int) {
      for (int64_t f : failing) {
        if (i != f) continue;
        if (foreign) throw std::runtime_error("iteration " + std::to_string(i) + " failed");
        AD_FAIL("iteration " << i << " of the parallel region failed");
      }
    });
  }, py::arg("n"), py::arg("failing"), py::arg("foreign") = false,
     py::call_guard<py::gil_scoped_release>());
  m.def("register_dataset", [](const std::string& key, py::array images,
                               py::array_t<float, py::array::c_style | py::array::forcecast> labels) {
    if (images.ndim() != 4) throw Error("data set '" + key + "': images must be (N, C, H, W)");
    auto d = std::make_shared<Dataset>();
    d->num = images.shape(0);
    d->channels = images.shape(1);
    d->height = images.shape(2);
    d->width = images.shape(3);
    if (images.dtype().kind() == 'f') {  // a preprocessed set: float pixels
      auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(images);
      d->float_images.assign(f.data(), f.data() + f.size());
    } else {
      auto u = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(images);
      d->images.assign(u.data(), u.data() + u.size());
    }
    d->labels.assign(labels.data(), labels.data() + labels.size());
    RegisterDataset(key, d);
  }, "Hand a data set to the core: images (N, C, H, W), uint8 (as Caffe's Datum data) or "
     "float (kept as float32, as a Datum's float_data), and float labels (N,).");
  m.def("register_mean", [](const std::string& key,
                            py::array_t<float, py::array::c_style | py::array::forcecast> mean) {
    if (mean.ndim() != 3) throw Error("mean '" + key + "' must be (C, H, W)");
    auto v = std::make_shared<std::vector<float>>(mean.data(), mean.data() + mean.size());
    RegisterMean(key, v, {mean.shape(0), mean.shape(1), mean.shape(2)});
  });
  BindRecordStreams(m);
  BindDataSources(m);
  m.def("registered_datasets", &RegisteredDatasets);
  m.def("clear_datasets", &ClearDatasets);
  // The core threads across images; the BLAS stays on the calling thread (core/parallel.hpp).
  set_blas_threads(1);
  m.def("set_num_threads", &SetNumThreads, "Threads for the core's loops (default: all cores).");
  m.def("num_threads", &MaxThreads);
  m.def("set_reduction_slots", &SetReductionSlots,
        "Blocks that loops keeping partial sums are cut into, whatever the thread count.");
  m.def("reduction_slots", &ReductionSlots);
  m.def("set_mode", [](const std::string& mode) {
    AD_CHECK(mode == "cpu" || mode == "gpu", "mode must be 'cpu' or 'gpu', got '" << mode << "'");
    SetMode(mode == "gpu" ? Mode::GPU : Mode::CPU);
  });
  m.def("get_mode", []() { return GetMode() == Mode::GPU ? "gpu" : "cpu"; });
  m.def("set_device", &SetDevice);
  m.def("synchronize", []() {
#ifdef AUGDROP_WITH_CUDA
    if (GetMode() == Mode::GPU) CudaSynchronize();
#endif
  }, py::call_guard<py::gil_scoped_release>());
  m.def("set_gpu_dropout_masks", [](const std::string& source) {
    AD_CHECK(source == "device" || source == "caffe",
             "GPU dropout masks come from 'device' or 'caffe', not '" << source << "'");
    SetGpuMasks(source == "caffe" ? GpuMasks::CAFFE_STREAM : GpuMasks::DEVICE);
  });
  m.def("build_info", []() {
    // What this binary was built from and for: the facts a run record needs to say which
    // code made its numbers.
    py::dict out;
#ifdef AUGDROP_GIT_COMMIT
    out["commit"] = AUGDROP_GIT_COMMIT;
#else
    out["commit"] = "unknown";
#endif
    out["compiler"] = __VERSION__;
#if defined(__AVX512F__)
    out["simd"] = "AVX-512";
#elif defined(__AVX2__)
    out["simd"] = "AVX2";
#else
    out["simd"] = "none";
#endif
#ifdef _OPENMP
    out["openmp"] = true;
#else
    out["openmp"] = false;
#endif
    return out;
  });
  m.def("backends", []() {
    // What was compiled, and what this machine can use.
    py::dict out;
    out["cpu"] = true;
#ifdef AUGDROP_WITH_CUDA
    out["cuda_compiled"] = true;
    out["gpu_dropout_masks"] = GetGpuMasks() == GpuMasks::CAFFE_STREAM ? "caffe" : "device";
    const int count = CudaDeviceCount();
    out["cuda_devices"] = count;
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) names.push_back(CudaDeviceName(i));
    out["cuda_device_names"] = names;
    out["gpu_usable"] = count > 0;
#else
    out["gpu_usable"] = false;
    out["cuda_compiled"] = false;
    out["cuda_devices"] = 0;
    out["cuda_device_names"] = std::vector<std::string>{};
#endif
    return out;
  });

  py::class_<Blob, std::shared_ptr<Blob>>(m, "Blob")
      .def(py::init([](std::vector<int64_t> shape) { return std::make_shared<Blob>(shape); }),
           py::arg("shape"))
      .def_property_readonly("shape", [](const Blob& b) { return py::tuple(py::cast(b.shape())); })
      .def_property_readonly("count", [](const Blob& b) { return b.count(); })
      .def_property_readonly("num", [](const Blob& b) { return b.LegacyShape(0); })
      .def_property_readonly("channels", [](const Blob& b) { return b.LegacyShape(1); })
      .def_property_readonly("height", [](const Blob& b) { return b.LegacyShape(2); })
      .def_property_readonly("width", [](const Blob& b) { return b.LegacyShape(3); })
      .def_property_readonly("data", [](const std::shared_ptr<Blob>& b) { return View(b, false); })
      .def_property_readonly("diff", [](const std::shared_ptr<Blob>& b) { return View(b, true); })
      .def("reshape", [](Blob& b, py::args dims) {
        std::vector<int64_t> shape;
        for (auto d : dims) shape.push_back(py::cast<int64_t>(d));
        b.Reshape(shape);
      })
      .def("__repr__", [](const Blob& b) { return "<Blob " + b.shape_string() + ">"; });

  // A Python layer's self.blobs (pycaffe's BlobVec): indexable, iterable, add_blob(*shape).
  py::class_<PythonLayerBlobs, std::shared_ptr<PythonLayerBlobs>>(m, "LayerBlobs")
      .def("__len__", [](const PythonLayerBlobs& b) { return b.get().size(); })
      .def("__getitem__", [](const PythonLayerBlobs& b, int64_t i) {
        auto& v = b.get();
        const int64_t n = int64_t(v.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) throw py::index_error("blob index out of range");
        return v[size_t(i)];
      })
      .def("__iter__", [](const PythonLayerBlobs& b) {
        return py::iter(py::cast(std::vector<std::shared_ptr<Blob>>(b.get())));
      })
      .def("add_blob", [](PythonLayerBlobs& b, py::args dims) {
        std::vector<int64_t> shape;
        for (auto d : dims) shape.push_back(py::cast<int64_t>(d));
        b.get().push_back(std::make_shared<Blob>(shape));
      }, "Append a param blob of the given shape (in setup, before the net collects params).");

  py::class_<Net, std::shared_ptr<Net>>(m, "Net")
      .def(py::init([](const py::dict& net_param, int phase, int level,
                       std::vector<std::string> stages) {
             return std::make_shared<Net>(ToParams(net_param), ToPhase(phase), level, stages);
           }),
           py::arg("net_param"), py::arg("phase"), py::arg("level") = 0,
           py::arg("stages") = std::vector<std::string>{})
      .def_property_readonly("name", &Net::name)
      .def_property_readonly("phase", [](const Net& n) { return n.phase() == Phase::TRAIN ? 0 : 1; })
      .def("forward", &Net::Forward, py::call_guard<py::gil_scoped_release>())
      .def("forward_from_to", &Net::ForwardFromTo, py::call_guard<py::gil_scoped_release>())
      .def("backward", &Net::Backward, py::call_guard<py::gil_scoped_release>())
      .def("backward_from_to", &Net::BackwardFromTo, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("backward_preparations", &Net::backward_preparations)
      .def("clear_param_diffs", &Net::ClearParamDiffs)
      .def("update", &Net::Update)
      .def("share_with", &Net::ShareTrainedLayersWith)
      .def("reshape", &Net::Reshape, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("blob_names", &Net::blob_names)
      .def_property_readonly("blobs", &Net::blobs)
      .def_property_readonly("layer_names", &Net::layer_names)
      .def_property_readonly("layer_types", [](const Net& n) {
        std::vector<std::string> out;
        for (const auto& l : n.layers()) out.push_back(l->type());
        return out;
      })
      .def("layer_blobs", [](const Net& n, int i) { return n.layers().at(i)->blobs(); })
      .def("python_layer", [](const Net& n, int i) -> py::object {
        // The Python object of a Python layer, None for the others.
        auto* layer = dynamic_cast<PythonLayer*>(n.layers().at(i).get());
        return layer ? layer->object() : py::none();
      })
      .def("layer_need_backward", &Net::layer_need_backward)
      .def("layer_engine", [](const Net& n, int i) { return n.layers().at(i)->engine(); })
      .def("force_layer_engine", [](Net& n, int i, const std::string& engine) {
        // A Convolution's engine from now on (ConvolutionLayer::ForceEngine); the net is
        // reshaped so that the layer takes it, or says why it cannot.
        auto* conv = dynamic_cast<ConvolutionLayer*>(n.layers().at(i).get());
        if (!conv) {
          throw Error("only Convolution layers have a choice of engine", n.layer_names().at(i),
                      n.layers().at(i)->type());
        }
        // A geometry that does not take the engine: the layer keeps the one it had.
        const std::string before = conv->forced_engine();
        conv->ForceEngine(engine);
        try {
          n.Reshape();
        } catch (...) {
          conv->ForceEngine(before);
          n.Reshape();
          throw;
        }
      })
      .def("layer_state", [](const Net& n, int i) { return py::bytes(n.layers().at(i)->SaveState()); })
      .def("set_layer_state", [](Net& n, int i, const std::string& s) { n.layers().at(i)->LoadState(s); })
      .def_property_readonly("bottom_ids", &Net::bottom_ids)
      .def_property_readonly("top_ids", &Net::top_ids)
      .def_property_readonly("input_blob_indices", &Net::input_blob_indices)
      .def_property_readonly("output_blob_indices", &Net::output_blob_indices)
      .def("blob_loss_weight", &Net::blob_loss_weight)
      .def_property_readonly("learnable_params", [](const Net& n) {
        // As indices into params (the order the solver's history follows).
        std::vector<int> out;
        for (Blob* b : n.learnable_params())
          for (size_t i = 0; i < n.params().size(); ++i)
            if (n.params()[i].get() == b) { out.push_back(int(i)); break; }
        return out;
      })
      .def_property_readonly("params_lr", &Net::params_lr)
      .def_property_readonly("params_weight_decay", &Net::params_weight_decay);

  py::class_<TestResult>(m, "TestResult")
      .def_readonly("iter", &TestResult::iter)
      .def_readonly("test_net", &TestResult::test_net)
      .def_readonly("names", &TestResult::names)
      .def_readonly("values", &TestResult::values)
      .def_readonly("loss_weights", &TestResult::loss_weights);

  py::class_<SolverEvent>(m, "SolverEvent")
      .def_property_readonly("kind", [](const SolverEvent& e) { return EventKindName(e.kind); })
      .def_readonly("iter", &SolverEvent::iter)
      .def_readonly("smoothed_loss", &SolverEvent::smoothed_loss)
      .def_readonly("rate", &SolverEvent::rate)
      .def_readonly("tests", &SolverEvent::tests)
      .def("__repr__", [](const SolverEvent& e) {
        return "<SolverEvent " + std::string(EventKindName(e.kind)) + " at iteration " +
               std::to_string(e.iter) + ">";
      });

  py::class_<SGDSolver>(m, "Solver")
      .def(py::init([](const py::dict& solver_param) { return CreateSolver(ToParams(solver_param)); }),
           py::arg("solver_param"))
      .def_property_readonly("type", &SGDSolver::type)
      .def("step", [](SGDSolver& s, int64_t iters, const py::object& on_event,
                      const py::object& action, const py::list& callbacks) {
             RunSolverLoop(s, false, iters, on_event, action, callbacks);
           },
           py::arg("iters"), py::arg("on_event") = py::none(), py::arg("action") = py::none(),
           py::arg("callbacks") = py::list())
      .def("solve", [](SGDSolver& s, const py::object& on_event, const py::object& action,
                       const py::list& callbacks) {
        RunSolverLoop(s, true, 0, on_event, action, callbacks);
      }, py::arg("on_event") = py::none(), py::arg("action") = py::none(),
         py::arg("callbacks") = py::list())
      .def("apply_update", &SGDSolver::ApplyUpdate, py::call_guard<py::gil_scoped_release>())
      .def("set_param_field", [](SGDSolver& s, const std::string& name, const py::object& value) {
        py::dict d;
        d[py::str(name)] = value;
        s.set_param_field(name, ToParams(d).fields.at(name).at(0));
      })
      .def("test_all", &SGDSolver::TestAll, py::call_guard<py::gil_scoped_release>())
      .def("learning_rate", &SGDSolver::GetLearningRate)
      .def_property("iter", &SGDSolver::iter, &SGDSolver::set_iter)
      .def_property("current_step", &SGDSolver::current_step, &SGDSolver::set_current_step)
      .def_property_readonly("net", &SGDSolver::shared_net)
      .def_property_readonly("test_nets", &SGDSolver::test_nets)
      .def_property_readonly("requested_early_exit", &SGDSolver::requested_early_exit)
      .def_property_readonly("history", &SGDSolver::history);
}
