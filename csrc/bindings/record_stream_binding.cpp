// register_stream: a Python reader (python/augdrop_caffe/data/lmdb_stream.py) as a
// RecordStream of the core. The core calls it from the training thread, which holds no GIL
// while a net runs: each call takes the GIL for its duration only.
#include "bindings/record_stream_binding.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings/hold_python.hpp"
#include "core/errors.hpp"
#include "data/record_stream.hpp"

namespace py = pybind11;

namespace augdrop {
namespace {

// The reader's interface: attributes num and shape (C, H, W); read_into(images, labels)
// fills uint8 (count, C, H, W) and float32 (count,) arrays; seek(position).
class PyRecordStream : public RecordStream {
 public:
  explicit PyRecordStream(py::object reader) {
    num_ = reader.attr("num").cast<int64_t>();
    const auto shape = reader.attr("shape").cast<std::vector<int64_t>>();
    AD_CHECK(shape.size() == 3, "a record stream's shape must be (C, H, W)");
    shape_ = {shape[0], shape[1], shape[2]};
    reader_ = HoldPython(std::move(reader));
  }
  int64_t num() const override { return num_; }
  std::array<int64_t, 3> shape() const override { return shape_; }

  void Read(int64_t count, uint8_t* images, float* labels) override {
    py::gil_scoped_acquire gil;
    py::capsule borrowed(images, [](void*) {});  // the arrays view the core's buffers
    py::array_t<uint8_t> image_view({count, shape_[0], shape_[1], shape_[2]}, images, borrowed);
    py::array_t<float> label_view({count}, labels, borrowed);
    Call([&] { reader_->attr("read_into")(image_view, label_view); });
  }

  void Seek(int64_t position) override {
    py::gil_scoped_acquire gil;
    Call([&] { reader_->attr("seek")(position); });
  }

 private:
  // A Python exception (a corrupt record, a vanished file) becomes the core's error here,
  // under the GIL, so that no Python state travels through the core.
  template <class F>
  static void Call(F&& f) {
    try {
      f();
    } catch (py::error_already_set& e) {
      throw Error(e.what());
    }
  }

  std::shared_ptr<py::object> reader_;
  int64_t num_ = 0;
  std::array<int64_t, 3> shape_{};
};

}  // namespace

void BindRecordStreams(py::module_& m) {
  m.def("register_stream", [](const std::string& key, py::object open) {
    auto factory = HoldPython(std::move(open));
    RegisterStream(key, [factory](int64_t batch_size) -> std::unique_ptr<RecordStream> {
      py::gil_scoped_acquire gil;
      try {
        return std::make_unique<PyRecordStream>((*factory)(batch_size));
      } catch (py::error_already_set& e) {
        throw Error(e.what());
      }
    });
  }, "Register a source read record by record: open(batch_size) returns a reader with num, "
     "shape, read_into(images, labels) and seek(position).");
}

}  // namespace augdrop
