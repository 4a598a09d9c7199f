// A Python object kept by one of the core's registries, which may outlive the interpreter:
// released under the GIL, or left alone once the interpreter is gone.
#pragma once

#include <memory>

#include <pybind11/pybind11.h>

namespace augdrop {

inline std::shared_ptr<pybind11::object> HoldPython(pybind11::object object) {
  return std::shared_ptr<pybind11::object>(
      new pybind11::object(std::move(object)), [](pybind11::object* p) {
        if (Py_IsInitialized()) {
          pybind11::gil_scoped_acquire gil;
          delete p;
        } else {
          p->release();
          delete p;
        }
      });
}

}  // namespace augdrop
