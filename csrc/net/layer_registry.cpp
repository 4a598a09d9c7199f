#include "net/layer_registry.hpp"

#include <functional>
#include <map>

#include "layers/absval_layer.hpp"
#include "layers/accuracy_layer.hpp"
#include "layers/argmax_layer.hpp"
#include "layers/augmented_dropout_layer.hpp"
#include "layers/batch_norm_layer.hpp"
#include "layers/batch_reindex_layer.hpp"
#include "layers/bias_layer.hpp"
#include "layers/bnll_layer.hpp"
#include "layers/clip_layer.hpp"
#include "layers/concat_layer.hpp"
#include "layers/contrastive_loss_layer.hpp"
#include "layers/conv_layer.hpp"
#include "layers/crop_layer.hpp"
#include "layers/data_layer.hpp"
#include "layers/deconv_layer.hpp"
#include "layers/dropout_layer.hpp"
#include "layers/dummy_data_layer.hpp"
#include "layers/eltwise_layer.hpp"
#include "layers/elu_layer.hpp"
#include "layers/embed_layer.hpp"
#include "layers/euclidean_loss_layer.hpp"
#include "layers/exp_layer.hpp"
#include "layers/filter_layer.hpp"
#include "layers/flatten_layer.hpp"
#include "layers/hdf5_data_layer.hpp"
#include "layers/hdf5_output_layer.hpp"
#include "layers/hinge_loss_layer.hpp"
#include "layers/im2col_layer.hpp"
#include "layers/image_data_layer.hpp"
#include "layers/infogain_loss_layer.hpp"
#include "layers/inner_product_layer.hpp"
#include "layers/input_layer.hpp"
#include "layers/log_layer.hpp"
#include "layers/lrn_layer.hpp"
#include "layers/lstm_layer.hpp"
#include "layers/lstm_unit_layer.hpp"
#include "layers/memory_data_layer.hpp"
#include "layers/multinomial_logistic_loss_layer.hpp"
#include "layers/mvn_layer.hpp"
#include "layers/parameter_layer.hpp"
#include "layers/pooling_layer.hpp"
#include "layers/power_layer.hpp"
#include "layers/prelu_layer.hpp"
#include "layers/python_layer.hpp"
#include "layers/reduction_layer.hpp"
#include "layers/relu_layer.hpp"
#include "layers/reshape_layer.hpp"
#include "layers/rnn_layer.hpp"
#include "layers/scale_layer.hpp"
#include "layers/sigmoid_cross_entropy_loss_layer.hpp"
#include "layers/sigmoid_layer.hpp"
#include "layers/silence_layer.hpp"
#include "layers/slice_layer.hpp"
#include "layers/softmax_layer.hpp"
#include "layers/softmax_loss_layer.hpp"
#include "layers/split_layer.hpp"
#include "layers/spp_layer.hpp"
#include "layers/swish_layer.hpp"
#include "layers/tanh_layer.hpp"
#include "layers/threshold_layer.hpp"
#include "layers/tile_layer.hpp"
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
      {"ArgMax", Make<ArgMaxLayer>()},
      {"AugmentedDropout", Make<AugmentedDropoutLayer>()},
      {"BatchNorm", Make<BatchNormLayer>()},
      {"BatchReindex", Make<BatchReindexLayer>()},
      {"Bias", Make<BiasLayer>()},
      {"BNLL", Make<BNLLLayer>()},
      {"Clip", Make<ClipLayer>()},
      {"Concat", Make<ConcatLayer>()},
      {"ContrastiveLoss", Make<ContrastiveLossLayer>()},
      {"Convolution", Make<ConvolutionLayer>()},
      {"Crop", Make<CropLayer>()},
      {"Data", Make<DataLayer>()},
      {"Deconvolution", Make<DeconvolutionLayer>()},
      {"Dropout", Make<DropoutLayer>()},
      {"DummyData", Make<DummyDataLayer>()},
      {"Eltwise", Make<EltwiseLayer>()},
      {"ELU", Make<ELULayer>()},
      {"Embed", Make<EmbedLayer>()},
      {"EuclideanLoss", Make<EuclideanLossLayer>()},
      {"Exp", Make<ExpLayer>()},
      {"Filter", Make<FilterLayer>()},
      {"Flatten", Make<FlattenLayer>()},
      {"HDF5Data", Make<HDF5DataLayer>()},
      {"HDF5Output", Make<HDF5OutputLayer>()},
      {"HingeLoss", Make<HingeLossLayer>()},
      {"Im2col", Make<Im2colLayer>()},
      {"ImageData", Make<ImageDataLayer>()},
      {"InfogainLoss", Make<InfogainLossLayer>()},
      {"InnerProduct", Make<InnerProductLayer>()},
      {"Input", Make<InputLayer>()},
      {"Log", Make<LogLayer>()},
      {"LRN", Make<LRNLayer>()},
      {"LSTM", Make<LSTMLayer>()},
      {"LSTMUnit", Make<LSTMUnitLayer>()},
      {"MemoryData", Make<MemoryDataLayer>()},
      {"MultinomialLogisticLoss", Make<MultinomialLogisticLossLayer>()},
      {"MVN", Make<MVNLayer>()},
      {"Parameter", Make<ParameterLayer>()},
      {"Pooling", Make<PoolingLayer>()},
      {"Power", Make<PowerLayer>()},
      {"PReLU", Make<PReLULayer>()},
      {"Python", Make<PythonLayer>()},
      {"Reduction", Make<ReductionLayer>()},
      {"ReLU", Make<ReLULayer>()},
      {"Reshape", Make<ReshapeLayer>()},
      {"RNN", Make<RNNLayer>()},
      {"Scale", Make<ScaleLayer>()},
      {"Sigmoid", Make<SigmoidLayer>()},
      {"SigmoidCrossEntropyLoss", Make<SigmoidCrossEntropyLossLayer>()},
      {"Silence", Make<SilenceLayer>()},
      {"Slice", Make<SliceLayer>()},
      {"Softmax", Make<SoftmaxLayer>()},
      {"SoftmaxWithLoss", Make<SoftmaxWithLossLayer>()},
      {"Split", Make<SplitLayer>()},
      {"SPP", Make<SPPLayer>()},
      {"Swish", Make<SwishLayer>()},
      {"TanH", Make<TanHLayer>()},
      {"Threshold", Make<ThresholdLayer>()},
      {"Tile", Make<TileLayer>()},
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
