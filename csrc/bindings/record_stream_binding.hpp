#pragma once

#include <pybind11/pybind11.h>

namespace augdrop {

void BindRecordStreams(pybind11::module_& m);

}  // namespace augdrop
