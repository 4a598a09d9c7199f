#pragma once

#include <pybind11/pybind11.h>

namespace augdrop {

// register_hdf5_source, set_hdf5_writer, set_input_arrays (MemoryData).
void BindDataSources(pybind11::module_& m);

}  // namespace augdrop
