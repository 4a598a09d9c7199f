// Caffe's insert_splits.cpp: where one top feeds several bottoms (or a bottom and a loss),
// insert a Split layer so that each consumer gets its own diff. Names as Caffe's:
// layer "<blob>_<layer>_<top index>_split", tops "<blob>_<layer>_<top index>_split_<k>".
#pragma once

#include "core/params.hpp"

namespace augdrop {

// Returns a copy of net_param (a NetParameter) with Split layers inserted. Throws naming the
// layer when a bottom is produced by no earlier layer.
Params InsertSplits(const Params& net_param);

}  // namespace augdrop
