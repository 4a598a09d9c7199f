// The data layers' Python side: HDF5 files read and written by h5py (data/hdf5.py), and the
// arrays of a MemoryData layer (pycaffe's net.set_input_arrays).
#include "bindings/data_binding.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "core/errors.hpp"
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

}  // namespace

void BindDataSources(py::module_& m) {
  m.def("register_hdf5_source", [](const std::string& key, const py::list& files) {
    auto source = std::make_shared<Hdf5Source>();
    for (const auto& entry : files) {
      auto pair = entry.cast<py::tuple>();
      Hdf5File file;
      file.name = pair[0].cast<std::string>();
      for (const auto& item : pair[1].cast<py::list>()) {
        FloatArray a = FloatArray::ensure(item);
        if (!a) throw Error(file.name + ": a dataset is not numeric");
        Hdf5Array array;
        for (py::ssize_t d = 0; d < a.ndim(); ++d) array.shape.push_back(a.shape(d));
        array.data.assign(a.data(), a.data() + a.size());
        file.arrays.push_back(std::move(array));
      }
      source->files.push_back(std::move(file));
    }
    RegisterHdf5Source(key, source);
  }, "Hand an HDF5Data source to the core: [(file name, [array per top])].");

  m.def("set_hdf5_writer", [](py::object write) {
    auto holder = std::shared_ptr<py::object>(new py::object(std::move(write)), [](py::object* p) {
      if (Py_IsInitialized()) {
        py::gil_scoped_acquire gil;
        delete p;
      } else {
        p->release();
        delete p;
      }
    });
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
