// The data layers' Python side: HDF5 files read and written by h5py (data/hdf5.py), and the
// arrays of a MemoryData layer (pycaffe's net.set_input_arrays).
#include "bindings/data_binding.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings/hold_python.hpp"
#include "core/errors.hpp"
#include "data/image_source.hpp"
#include "data/hdf5_registry.hpp"
#include "data/window_source.hpp"
#include "layers/memory_data_layer.hpp"
#include "net/net.hpp"

namespace py = pybind11;

namespace augdrop {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A float32 C-contiguous array, used in place (not copied): anything else is refused.
const float* ExactFloatArray(const py::array& a, const char* what) {
  if (!py::isinstance<py::array_t<float>>(a) || !(a.flags() & py::array::c_style))
    throw Error(std::string(what) + " must be a C-contiguous float32 array");
  return static_cast<const float*>(a.data());
}

// An ImageData list as the Python reader (data/images.py ImageListReader) reads it: num,
// labels, image_shape(index), read_into(indices, images). Called from the training thread,
// which holds no GIL while a net runs: each call takes it for its duration.
class PyImageSource : public ImageSource {
 public:
  explicit PyImageSource(py::object reader) {
    num_ = reader.attr("num").cast<int64_t>();
    labels_ = reader.attr("labels").cast<std::vector<float>>();
    reader_ = HoldPython(std::move(reader));
  }
  int64_t num() const override { return num_; }
  const std::vector<float>& labels() const override { return labels_; }

  std::array<int64_t, 3> ImageShape(int64_t index) override {
    py::gil_scoped_acquire gil;
    std::vector<int64_t> shape;
    try {
      shape = reader_->attr("image_shape")(index).cast<std::vector<int64_t>>();
    } catch (py::error_already_set& e) {
      throw Error(e.what());
    }
    if (shape.size() != 3) throw Error("an image's shape must be (C, H, W)");
    return {shape[0], shape[1], shape[2]};
  }

  void Read(const std::vector<int64_t>& indices, const std::array<int64_t, 3>& shape,
            uint8_t* images) override {
    py::gil_scoped_acquire gil;
    const int64_t count = int64_t(indices.size());
    py::capsule borrowed(images, [](void*) {});  // a view of the layer's buffer
    py::array_t<uint8_t> view({count, shape[0], shape[1], shape[2]}, images, borrowed);
    try {
      reader_->attr("read_into")(py::array_t<int64_t>(count, indices.data()), view);
    } catch (py::error_already_set& e) {
      throw Error(e.what());
    }
  }

 private:
  std::shared_ptr<py::object> reader_;
  int64_t num_ = 0;
  std::vector<float> labels_;
};

// An HDF5Data list as the Python reader (data/hdf5.py Hdf5ListReader) reads it, a file at
// a time, under the GIL.
class PyHdf5Source : public Hdf5Source {
 public:
  explicit PyHdf5Source(py::object reader) {
    num_files_ = reader.attr("num_files").cast<size_t>();
    reader_ = HoldPython(std::move(reader));
  }
  size_t num_files() const override { return num_files_; }

  Hdf5File Load(size_t index) override {
    py::gil_scoped_acquire gil;
    Hdf5File file;
    try {
      auto loaded = reader_->attr("load")(index).cast<py::tuple>();
      file.name = loaded[0].cast<std::string>();
      for (const auto& item : loaded[1].cast<py::list>()) {
        auto a = FloatArray::ensure(item);
        if (!a) throw Error(file.name + ": a dataset is not numeric");
        Hdf5Array array;
        for (py::ssize_t d = 0; d < a.ndim(); ++d) array.shape.push_back(a.shape(d));
        array.data.assign(a.data(), a.data() + a.size());
        file.arrays.push_back(std::move(array));
      }
    } catch (py::error_already_set& e) {
      throw Error(e.what());
    }
    if (file.arrays.empty()) throw Error(file.name + ": no datasets");
    const int64_t rows = file.arrays[0].shape.empty() ? 0 : file.arrays[0].shape[0];
    for (const auto& a : file.arrays)
      if (a.shape.empty() || a.shape[0] != rows || rows == 0)
        throw Error(file.name + ": every dataset needs the same positive number of rows");
    return file;
  }

 private:
  std::shared_ptr<py::object> reader_;
  size_t num_files_ = 0;
};

}  // namespace

void BindDataSources(py::module_& m) {
  m.def("register_image_source", [](const std::string& key, py::object open) {
    auto factory = HoldPython(std::move(open));
    RegisterImageSource(key, [factory]() -> std::unique_ptr<ImageSource> {
      py::gil_scoped_acquire gil;
      try {
        return std::make_unique<PyImageSource>((*factory)());
      } catch (py::error_already_set& e) {
        throw Error(e.what());
      }
    });
  }, "Register an ImageData list: open() returns a reader with num, shape, labels and "
     "read_into(indices, images).");

  m.def("register_hdf5_source", [](const std::string& key, py::object reader) {
    RegisterHdf5Source(key, std::make_shared<PyHdf5Source>(std::move(reader)));
  }, "Register an HDF5Data source: a reader with num_files and load(index) -> (file name, "
     "[array per top]).");

  m.def("set_hdf5_writer", [](py::object write) {
    auto holder = HoldPython(std::move(write));
    SetHdf5Writer([holder](const std::string& file, const std::vector<Hdf5Dataset>& datasets) {
      py::gil_scoped_acquire gil;
      py::list items;
      for (const auto& d : datasets) {
        py::array_t<float> copy(d.shape);  // h5py writes it after the call returns nothing
        int64_t count = 1;
        for (int64_t s : d.shape) count *= s;
        std::copy(d.data, d.data + count, copy.mutable_data());
        items.append(py::make_tuple(d.name, copy));
      }
      try {
        (*holder)(file, items);
      } catch (py::error_already_set& e) {
        throw Error(e.what());
      }
    });
  }, "Install write(file, [(name, array)]) for HDF5Output: an empty list creates the file.");

  m.def("register_window_source", [](const std::string& key, const py::list& images,
                                     py::array_t<float, py::array::c_style | py::array::forcecast> windows,
                                     int64_t channels) {
    auto source = std::make_shared<WindowSource>();
    for (const auto& entry : images) {
      auto pair = entry.cast<py::tuple>();
      auto pixels = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(pair[1]);
      if (!pixels || pixels.ndim() != 3) throw Error("window images must be (H, W, C) uint8");
      WindowImage image;
      image.path = pair[0].cast<std::string>();
      image.height = pixels.shape(0);
      image.width = pixels.shape(1);
      image.channels = pixels.shape(2);
      image.pixels.assign(pixels.data(), pixels.data() + pixels.size());
      source->images.push_back(std::move(image));
    }
    if (windows.ndim() != 2 || windows.shape(1) != 7)
      throw Error("windows must be (N, 7): image, label, overlap, x1, y1, x2, y2");
    for (py::ssize_t i = 0; i < windows.shape(0); ++i) {
      std::array<float, 7> w;
      for (int k = 0; k < 7; ++k) w[k] = windows.at(i, k);
      source->windows.push_back(w);
    }
    source->channels = channels;
    RegisterWindowSource(key, source);
  }, "Hand a WindowData source to the core: [(path, (H, W, C) uint8 BGR)], windows (N, 7), "
     "and the channels the window file gives.");

  m.def("set_input_arrays", [](Net& net, int layer, const py::array& data,
                               const py::array& labels) {
    auto* md = dynamic_cast<MemoryDataLayer*>(net.layers().at(layer).get());
    if (md == nullptr) throw Error("set_input_arrays needs a MemoryData layer");
    const float* d = ExactFloatArray(data, "data");
    const float* l = ExactFloatArray(labels, "labels");
    if (data.ndim() != 4 || data.shape(1) != md->channels() || data.shape(2) != md->height() ||
        data.shape(3) != md->width())
      throw Error("data must be (n, " + std::to_string(md->channels()) + ", " +
                  std::to_string(md->height()) + ", " + std::to_string(md->width()) + ")");
    if (labels.size() != data.shape(0))
      throw Error("labels must hold one label per image (" + std::to_string(data.shape(0)) +
                  "), got " + std::to_string(labels.size()));
    md->Reset(d, l, data.shape(0));
  }, "Point a MemoryData layer at arrays the caller keeps alive (no copy).");
}

}  // namespace augdrop
