#include "core/blob.hpp"

#include <cmath>
#include <sstream>

#include "core/errors.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void Blob::Reshape(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    AD_CHECK(d >= 0, "negative blob dimension in shape " << d);
    count *= d;
  }
  shape_ = shape;
  count_ = count;
  if (count_ > capacity_ || !data_) {
    capacity_ = count_;
    data_ = std::make_shared<SyncedMemory>(capacity_ * sizeof(float));
    diff_ = std::make_shared<SyncedMemory>(capacity_ * sizeof(float));
  }
}

int64_t Blob::count(int start_axis, int end_axis) const {
  AD_CHECK(start_axis >= 0 && start_axis <= end_axis && end_axis <= num_axes(),
           "axis range [" << start_axis << ", " << end_axis << ") outside shape "
                          << shape_string());
  int64_t c = 1;
  for (int i = start_axis; i < end_axis; ++i) c *= shape_[i];
  return c;
}

int Blob::CanonicalAxisIndex(int axis) const {
  AD_CHECK(axis >= -num_axes() && axis < num_axes(),
           "axis " << axis << " out of range for blob of shape " << shape_string());
  return axis < 0 ? axis + num_axes() : axis;
}

int64_t Blob::LegacyShape(int index) const {
  AD_CHECK(num_axes() <= 4, "legacy accessor on a blob with more than 4 axes");
  if (index >= num_axes() || index < -num_axes()) return 1;
  return shape(index);
}

std::string Blob::shape_string() const {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape_.size(); ++i) os << (i ? ", " : "") << shape_[i];
  os << ")";
  return os.str();
}

const float* Blob::cpu_data() const {
  AD_CHECK(data_, "blob has no data (never reshaped)");
  return static_cast<const float*>(data_->cpu_data());
}
const float* Blob::cpu_diff() const {
  AD_CHECK(diff_, "blob has no diff (never reshaped)");
  return static_cast<const float*>(diff_->cpu_data());
}
float* Blob::mutable_cpu_data() {
  AD_CHECK(data_, "blob has no data (never reshaped)");
  return static_cast<float*>(data_->mutable_cpu_data());
}
float* Blob::mutable_cpu_diff() {
  AD_CHECK(diff_, "blob has no diff (never reshaped)");
  return static_cast<float*>(diff_->mutable_cpu_data());
}

const float* Blob::gpu_data() const {
  AD_CHECK(data_, "blob has no data (never reshaped)");
  return static_cast<const float*>(data_->gpu_data());
}
const float* Blob::gpu_diff() const {
  AD_CHECK(diff_, "blob has no diff (never reshaped)");
  return static_cast<const float*>(diff_->gpu_data());
}
float* Blob::mutable_gpu_data() {
  AD_CHECK(data_, "blob has no data (never reshaped)");
  return static_cast<float*>(data_->mutable_gpu_data());
}
float* Blob::mutable_gpu_diff() {
  AD_CHECK(diff_, "blob has no diff (never reshaped)");
  return static_cast<float*>(diff_->mutable_gpu_data());
}

#ifdef AUGDROP_WITH_CUDA
namespace {
// Where an operation on a blob's memory runs: beside the latest values (Caffe's rule).
bool OnGpu(const std::shared_ptr<SyncedMemory>& m) {
  return m && (m->head() == SyncedMemory::HEAD_AT_GPU || m->head() == SyncedMemory::SYNCED);
}
}  // namespace
#endif

void Blob::ShareData(const Blob& other) {
  AD_CHECK(count_ == other.count_, "ShareData between blobs of different counts");
  data_ = other.data_;
}
void Blob::ShareDiff(const Blob& other) {
  AD_CHECK(count_ == other.count_, "ShareDiff between blobs of different counts");
  diff_ = other.diff_;
}

void Blob::Update() {
#ifdef AUGDROP_WITH_CUDA
  if (OnGpu(data_)) {
    gpu_axpy(count_, -1.f, gpu_diff(), mutable_gpu_data());
    return;
  }
#endif
  float* data = mutable_cpu_data();
  const float* diff = cpu_diff();
  for (int64_t i = 0; i < count_; ++i) data[i] -= diff[i];
}

double Blob::asum_data() const {
  double s = 0;
  const float* d = cpu_data();
  for (int64_t i = 0; i < count_; ++i) s += std::fabs(d[i]);
  return s;
}
double Blob::asum_diff() const {
  double s = 0;
  const float* d = cpu_diff();
  for (int64_t i = 0; i < count_; ++i) s += std::fabs(d[i]);
  return s;
}
double Blob::sumsq_data() const {
  double s = 0;
  const float* d = cpu_data();
  for (int64_t i = 0; i < count_; ++i) s += double(d[i]) * d[i];
  return s;
}
double Blob::sumsq_diff() const {
#ifdef AUGDROP_WITH_CUDA
  if (OnGpu(diff_)) return gpu_dot(count_, gpu_diff(), gpu_diff());
#endif
  double s = 0;
  const float* d = cpu_diff();
  for (int64_t i = 0; i < count_; ++i) s += double(d[i]) * d[i];
  return s;
}
void Blob::scale_diff(float factor) {
#ifdef AUGDROP_WITH_CUDA
  if (OnGpu(diff_)) {
    gpu_scal(count_, factor, mutable_gpu_diff());
    return;
  }
#endif
  float* d = mutable_cpu_diff();
  for (int64_t i = 0; i < count_; ++i) d[i] *= factor;
}

}  // namespace augdrop
