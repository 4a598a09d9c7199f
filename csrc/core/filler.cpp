// Caffe's fillers, following include/caffe/filler.hpp of BVLC Caffe 1.0 with Dtype = float.
// Every computation is in float as there (fan counts as integers, then float), so that the
// params match Caffe's bit for bit. Contraction into FMA is switched off, as in rng.cpp, so
// that -march=native builds round each operation separately as Caffe's build did.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "core/filler.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/rng.hpp"

namespace augdrop {
namespace {

void CheckNotSparse(const Params& p, const std::string& type) {
  AD_CHECK(p.get_int("sparse", -1) == -1,
           "filler " << type << ": sparsity not supported by this filler (sparse = "
                     << p.get_int("sparse", -1) << ")");
}

// Caffe's n for xavier and msra: fan_in = count / num, fan_out = count / channels (integers,
// as Caffe's int division), then n = fan_in, fan_out or (fan_in + fan_out) / 2.0f in float.
float VarianceNorm(const Params& p, const Blob& blob, const std::string& type) {
  const int64_t count = blob.count();
  const int64_t fan_in = count / blob.LegacyShape(0);
  const int64_t fan_out = count / blob.LegacyShape(1);
  const std::string norm = p.get_string("variance_norm", "FAN_IN");
  if (norm == "FAN_IN") return static_cast<float>(fan_in);
  if (norm == "FAN_OUT") return static_cast<float>(fan_out);
  if (norm == "AVERAGE") return static_cast<float>(fan_in + fan_out) / 2.0f;
  AD_FAIL("filler " << type << ": unknown variance_norm " << norm);
}

}  // namespace

void FillBlob(const Params& filler_param, Blob* blob) {
  const Params& p = filler_param;
  const std::string type = p.get_string("type", "constant");
  AD_CHECK(type == "constant" || type == "uniform" || type == "gaussian" ||
               type == "positive_unitball" || type == "xavier" || type == "msra" ||
               type == "bilinear",
           "Unknown filler name: " << type);
  AD_CHECK(blob != nullptr, "filler " << type << ": null blob");
  const int64_t count = blob->count();
  AD_CHECK(count > 0, "filler " << type << " on an empty blob " << blob->shape_string());
  float* data = blob->mutable_cpu_data();

  if (type == "constant") {
    CheckNotSparse(p, type);
    const float value = static_cast<float>(p.get_float("value", 0));
    for (int64_t i = 0; i < count; ++i) data[i] = value;
  } else if (type == "uniform") {
    CheckNotSparse(p, type);
    caffe_rng_uniform(count, static_cast<float>(p.get_float("min", 0)),
                      static_cast<float>(p.get_float("max", 1)), data);
  } else if (type == "gaussian") {
    const int64_t sparse = p.get_int("sparse", -1);
    AD_CHECK(sparse >= -1, "filler gaussian: sparse must be >= -1, got " << sparse);
    if (sparse >= 0) {
      // Checked before drawing, so a bad probability consumes nothing.
      AD_CHECK(blob->num_axes() >= 1, "filler gaussian: sparse needs a blob with axes");
      const float prob = static_cast<float>(sparse) / static_cast<float>(blob->shape(0));
      AD_CHECK(prob <= 1, "filler gaussian: sparse " << sparse << " exceeds the "
                                                     << blob->shape(0) << " outputs");
    }
    caffe_rng_gaussian(count, static_cast<float>(p.get_float("mean", 0)),
                       static_cast<float>(p.get_float("std", 1)), data);
    if (sparse >= 0) {
      // Sparse initialisation: each weight is kept with probability sparse / num_outputs
      // (a float), from caffe_rng_bernoulli<float>, and multiplied by its 0/1 mask.
      const float prob = static_cast<float>(sparse) / static_cast<float>(blob->shape(0));
      std::vector<uint32_t> mask(static_cast<size_t>(count));
      caffe_rng_bernoulli_float(count, prob, mask.data());
      for (int64_t i = 0; i < count; ++i) data[i] *= static_cast<float>(mask[i]);
    }
  } else if (type == "positive_unitball") {
    CheckNotSparse(p, type);
    caffe_rng_uniform(count, 0.0f, 1.0f, data);
    const int64_t num = blob->LegacyShape(0);
    const int64_t dim = count / num;
    for (int64_t i = 0; i < num; ++i) {
      float sum = 0;
      for (int64_t j = 0; j < dim; ++j) sum += data[i * dim + j];
      for (int64_t j = 0; j < dim; ++j) data[i * dim + j] /= sum;
    }
  } else if (type == "xavier") {
    CheckNotSparse(p, type);
    const float n = VarianceNorm(p, *blob, type);
    const float scale = std::sqrt(3.0f / n);
    caffe_rng_uniform(count, -scale, scale, data);
  } else if (type == "msra") {
    CheckNotSparse(p, type);
    const float n = VarianceNorm(p, *blob, type);
    const float std_dev = std::sqrt(2.0f / n);
    caffe_rng_gaussian(count, 0.0f, std_dev, data);
  } else {  // bilinear: draws nothing
    CheckNotSparse(p, type);
    AD_CHECK(blob->num_axes() == 4,
             "filler bilinear: blob must be 4-d, got " << blob->shape_string());
    const int64_t height = blob->shape(2);
    const int64_t width = blob->shape(3);
    AD_CHECK(width == height, "filler bilinear: filter must be square, got "
                                  << blob->shape_string());
    const int f = static_cast<int>(std::ceil(width / 2.));
    const float c = static_cast<float>((width - 1) / (2. * f));
    for (int64_t i = 0; i < count; ++i) {
      const float x = static_cast<float>(i % width);
      const float y = static_cast<float>((i / width) % height);
      data[i] = (1 - std::fabs(x / f - c)) * (1 - std::fabs(y / f - c));
    }
  }
}

}  // namespace augdrop
