// Caffe's fillers (include/caffe/filler.hpp): fill a param blob at construction, drawing from
// the process-wide Caffe stream (core/rng.hpp) exactly as Caffe does, so that a net built
// after set_random_seed(s) gets the params Caffe would give it.
#pragma once

#include "core/blob.hpp"
#include "core/params.hpp"

namespace augdrop {

// filler_param is a FillerParameter: type "constant" (value), "uniform" (min, max),
// "gaussian" (mean, std, sparse), "xavier" / "msra" (variance_norm FAN_IN, FAN_OUT or AVERAGE,
// from fan_in = count / num and fan_out = count / channels), "positive_unitball" or
// "bilinear". An unknown type, an empty blob or an unsupported field throws augdrop::Error.
void FillBlob(const Params& filler_param, Blob* blob);

}  // namespace augdrop
