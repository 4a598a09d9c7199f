#include "layers/python_layer.hpp"

#include <utility>

namespace py = pybind11;

namespace augdrop {
namespace {

// A Python exception on its way out of the core: pybind11 restores it in Python as it was
// (error_already_set), and Net passes it on unwrapped (ForeignException).
class PythonLayerError : public py::error_already_set, public ForeignException {
 public:
  explicit PythonLayerError(const py::error_already_set& e) : py::error_already_set(e) {}
};

// Names the layer in the exception itself (GIL held): a plain message gets the layer in front,
// as the core's own errors; others get a note (PEP 678). Both get .layer and .layer_type.
void Annotate(const py::error_already_set& e, const std::string& layer, const std::string& what) {
  py::object value = e.value();
  const std::string prefix = "layer '" + layer + "' (Python, " + what + "): ";
  try {
    value.attr("layer") = layer;
    value.attr("layer_type") = "Python";
  } catch (py::error_already_set&) {
    // an exception type without a __dict__: the message or the note still names the layer
  }
  try {
    py::tuple args = value.attr("args");
    if (args.size() == 1 && py::isinstance<py::str>(args[0])) {
      value.attr("args") = py::make_tuple(py::str(prefix + py::cast<std::string>(args[0])));
      // ImportError and its kind print their msg, not args
      if (py::hasattr(value, "msg") && py::isinstance<py::str>(value.attr("msg")))
        value.attr("msg") = py::str(prefix + py::cast<std::string>(value.attr("msg")));
    } else if (py::hasattr(value, "add_note")) {
      value.attr("add_note")("raised in " + prefix.substr(0, prefix.size() - 2));
    }
  } catch (py::error_already_set&) {
  }
}

py::list ToList(const BlobVec& blobs) {
  py::list out;
  for (Blob* b : blobs) out.append(py::cast(b, py::return_value_policy::reference));
  return out;
}

}  // namespace

std::vector<std::shared_ptr<Blob>>& PythonLayerBlobs::get() const {
  AD_CHECK(blobs_ != nullptr, "the Python layer of these blobs no longer exists");
  return *blobs_;
}

PythonLayer::PythonLayer(const Params& layer_param, Phase phase) : Layer(layer_param, phase) {
  const Params& pp = layer_param_.get_message("python_param");
  const std::string module = pp.get_string("module", "");
  const std::string layer = pp.get_string("layer", "");
  AD_CHECK(!module.empty() && !layer.empty(),
           "python_param needs module and layer (the Python class implementing the layer)");
  class_name_ = module + "." + layer;
  py::gil_scoped_acquire gil;
  try {
    // The package's factory imports the module and checks the class (a caffe.Layer).
    self_ = py::module_::import("augdrop_caffe.python_layer").attr("_create")(module, layer, name_);
    self_.attr("param_str") = pp.get_string("param_str", "");
    self_.attr("phase") = phase_ == Phase::TRAIN ? 0 : 1;
    blobs_view_ = std::make_shared<PythonLayerBlobs>(&blobs_);
    self_.attr("blobs") = py::cast(blobs_view_);
  } catch (py::error_already_set& e) {
    Annotate(e, name_, class_name_);
    throw PythonLayerError(e);
  }
}

PythonLayer::~PythonLayer() {
  if (blobs_view_) blobs_view_->detach();
  if (!Py_IsInitialized()) {
    self_.release();  // the interpreter is gone: nothing left to decrement
    return;
  }
  py::gil_scoped_acquire gil;
  self_ = py::object();
  blobs_view_.reset();
}

template <class... Args>
void PythonLayer::Call(const char* method, Args&&... args) {
  py::gil_scoped_acquire gil;
  try {
    self_.attr(method)(std::forward<Args>(args)...);
  } catch (py::error_already_set& e) {
    Annotate(e, name_, class_name_);
    throw PythonLayerError(e);
  }
}

void PythonLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  py::gil_scoped_acquire gil;
  Call("setup", ToList(bottom), ToList(top));
}

void PythonLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  py::gil_scoped_acquire gil;
  Call("reshape", ToList(bottom), ToList(top));
}

void PythonLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  py::gil_scoped_acquire gil;
  Call("forward", ToList(bottom), ToList(top));
}

void PythonLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  py::gil_scoped_acquire gil;
  py::list down;
  for (bool d : propagate_down) down.append(py::bool_(d));
  Call("backward", ToList(top), down, ToList(bottom));
}

}  // namespace augdrop
