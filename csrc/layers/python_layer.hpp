// Python: a layer written in Python (pycaffe's caffe.Layer subclasses), as Caffe's
// include/caffe/layers/python_layer.hpp. python_param { module layer param_str } names the
// class; the layer object gets self.param_str, self.phase (0 TRAIN, 1 TEST) and self.blobs (this
// layer's blobs_, to which setup may add_blob), then setup, reshape, forward and backward are
// called with the bottom and top blobs. The GIL is taken around each call only: the core runs
// without it (Net.forward and Solver.step release it).
// An exception raised by the Python code reaches the caller as itself (same type), its
// message prefixed with the layer's name where it is a plain message, and with the attributes
// layer and layer_type set.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

// A Python layer's blobs_ as Python sees them (self.blobs): len, [i], iteration, add_blob.
// Detached when the layer goes, so that a Python object outliving its net fails cleanly.
class PythonLayerBlobs {
 public:
  explicit PythonLayerBlobs(std::vector<std::shared_ptr<Blob>>* blobs) : blobs_(blobs) {}
  std::vector<std::shared_ptr<Blob>>& get() const;
  void detach() { blobs_ = nullptr; }

 private:
  std::vector<std::shared_ptr<Blob>>* blobs_;
};

class PythonLayer : public Layer {
 public:
  PythonLayer(const Params& layer_param, Phase phase);
  ~PythonLayer() override;

  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Python"; }
  // The Python object (for net.layers), borrowed.
  pybind11::object object() const { return self_; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;

 private:
  // Calls self.<method>(args...) holding the GIL; a Python exception is annotated with this
  // layer and rethrown as a ForeignException.
  template <class... Args>
  void Call(const char* method, Args&&... args);

  pybind11::object self_;
  std::shared_ptr<PythonLayerBlobs> blobs_view_;
  std::string class_name_;  // module.layer, for messages
};

}  // namespace augdrop
