// The one explicit place where layer types are registered (no static self-registration).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

std::unique_ptr<Layer> CreateLayer(const Params& layer_param, Phase phase);
std::vector<std::string> RegisteredLayerTypes();

}  // namespace augdrop
