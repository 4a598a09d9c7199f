#include "net/layer_registry.hpp"

#include <functional>
#include <map>

#include "layers/absval_layer.hpp"
#include "layers/accuracy_layer.hpp"
#include "layers/augmented_dropout_layer.hpp"
#include "layers/batch_norm_layer.hpp"
#include "layers/bnll_layer.hpp"
#include "layers/clip_layer.hpp"
#include "layers/conv_layer.hpp"
#include "layers/data_layer.hpp"
#include "layers/dropout_layer.hpp"
#include "layers/dummy_data_layer.hpp"
#include "layers/eltwise_layer.hpp"
#include "layers/elu_layer.hpp"
#include "layers/exp_layer.hpp"
#include "layers/hdf5_data_layer.hpp"
#include "layers/hdf5_output_layer.hpp"
#include "layers/image_data_layer.hpp"
#include "layers/inner_product_layer.hpp"
#include "layers/input_layer.hpp"
#include "layers/log_layer.hpp"
#include "layers/memory_data_layer.hpp"
#include "layers/pooling_layer.hpp"
#include "layers/power_layer.hpp"
#include "layers/relu_layer.hpp"
#include "layers/scale_layer.hpp"
#include "layers/sigmoid_layer.hpp"
#include "layers/softmax_layer.hpp"
#include "layers/softmax_loss_layer.hpp"
#include "layers/split_layer.hpp"
#include "layers/swish_layer.hpp"
#include "layers/tanh_layer.hpp"
#include "layers/threshold_layer.hpp"
#include "layers/window_data_layer.hpp"

namespace augdrop {
namespace {

using Factory = std::function<std::unique_ptr<Layer>(const Params&, Phase)>;

template <class L>
Factory Make() {
  return [](const Params& p, Phase phase) { return std::make_unique<L>(p, phase); };
}

const std::map<std::string, Factory>& Registry() {
  static const std::map<std::string, Factory> registry = {
      {"AbsVal", Make<AbsValLayer>()},
      {"Accuracy", Make<AccuracyLayer>()},
      {"AugmentedDropout", Make<AugmentedDropoutLayer>()},
      {"BatchNorm", Make<BatchNormLayer>()},
      {"BNLL", Make<BNLLLayer>()},
      {"Clip", Make<ClipLayer>()},
      {"Convolution", Make<ConvolutionLayer>()},
      {"Data", Make<DataLayer>()},
      {"Dropout", Make<DropoutLayer>()},
      {"DummyData", Make<DummyDataLayer>()},
      {"Eltwise", Make<EltwiseLayer>()},
      {"ELU", Make<ELULayer>()},
      {"Exp", Make<ExpLayer>()},
      {"HDF5Data", Make<HDF5DataLayer>()},
      {"HDF5Output", Make<HDF5OutputLayer>()},
      {"ImageData", Make<ImageDataLayer>()},
      {"InnerProduct", Make<InnerProductLayer>()},
      {"Input", Make<InputLayer>()},
      {"Log", Make<LogLayer>()},
      {"MemoryData", Make<MemoryDataLayer>()},
      {"Pooling", Make<PoolingLayer>()},
      {"Power", Make<PowerLayer>()},
      {"ReLU", Make<ReLULayer>()},
      {"Scale", Make<ScaleLayer>()},
      {"Sigmoid", Make<SigmoidLayer>()},
      {"Softmax", Make<SoftmaxLayer>()},
      {"SoftmaxWithLoss", Make<SoftmaxWithLossLayer>()},
      {"Split", Make<SplitLayer>()},
      {"Swish", Make<SwishLayer>()},
      {"TanH", Make<TanHLayer>()},
      {"Threshold", Make<ThresholdLayer>()},
      {"WindowData", Make<WindowDataLayer>()},
  };
  return registry;
}

}  // namespace

std::unique_ptr<Layer> CreateLayer(const Params& layer_param, Phase phase) {
  const std::string type = layer_param.get_string("type", "");
  auto it = Registry().find(type);
  if (it == Registry().end()) {
    std::string known;
    for (const auto& kv : Registry()) known += (known.empty() ? "" : ", ") + kv.first;
    AD_FAIL("unknown layer type '" << type << "' (known types: " << known << ")");
  }
  return it->second(layer_param, phase);
}

std::vector<std::string> RegisteredLayerTypes() {
  std::vector<std::string> out;
  for (const auto& kv : Registry()) out.push_back(kv.first);
  return out;
}

}  // namespace augdrop
