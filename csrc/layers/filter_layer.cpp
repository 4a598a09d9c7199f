#include "layers/filter_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void FilterLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(top.size() == bottom.size() - 1,
           "Filter takes one top per filtered bottom: " << bottom.size() << " bottoms (the last "
                                                        << "the selector) need "
                                                        << bottom.size() - 1 << " tops, got "
                                                        << top.size());
  first_reshape_ = true;
}

void FilterLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Blob& selector = *bottom.back();
  for (int i = 1; i < selector.num_axes(); ++i)
    AD_CHECK(selector.shape(i) == 1, "Selector blob dimensions must be singletons (1), except "
                                     "the first (selector "
                                         << selector.shape_string() << ")");
  num_items_ = selector.shape(0);
  for (size_t i = 0; i + 1 < bottom.size(); ++i)
    AD_CHECK(bottom[i]->shape(0) == num_items_,
             "Each bottom should have the same 0th dimension as the selector blob (bottom["
                 << i << "] " << bottom[i]->shape_string() << ", selector "
                 << selector.shape_string() << ")");
  const size_t bytes = size_t(2 * num_items_ > 0 ? 2 * num_items_ : 1) * sizeof(int64_t);
  if (!selection_ || selection_->size() != bytes)
    selection_ = std::make_unique<SyncedMemory>(bytes);
  int64_t* selected = static_cast<int64_t*>(selection_->mutable_cpu_data());
  int64_t* place = selected + num_items_;
  const float* s = selector.cpu_data();
  num_selected_ = 0;
  for (int64_t n = 0; n < num_items_; ++n) {
    place[n] = s[n] != 0.f ? num_selected_ : -1;
    if (s[n] != 0.f) selected[num_selected_++] = n;
  }
  const int64_t rows = first_reshape_ ? bottom[0]->shape(0) : num_selected_;
  first_reshape_ = false;
  for (size_t t = 0; t < top.size(); ++t) {
    std::vector<int64_t> shape = bottom[t]->shape();
    shape[0] = rows;
    top[t]->Reshape(shape);
  }
}

void FilterLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t* selected = static_cast<const int64_t*>(selection_->cpu_data());
  for (size_t t = 0; t < top.size(); ++t) {
    const int64_t dim = bottom[t]->count(1);
    const float* x = bottom[t]->cpu_data();
    float* y = top[t]->mutable_cpu_data();
    for (int64_t m = 0; m < num_selected_; ++m) cpu_copy(dim, x + selected[m] * dim, y + m * dim);
  }
}

void FilterLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  AD_CHECK(!propagate_down.back(), "Filter Layer cannot backpropagate to filter index inputs");
  const int64_t* place = static_cast<const int64_t*>(selection_->cpu_data()) + num_items_;
  for (size_t t = 0; t < top.size(); ++t) {
    if (!propagate_down[t]) continue;
    const int64_t dim = bottom[t]->count(1);
    const float* dy = top[t]->cpu_diff();
    float* dx = bottom[t]->mutable_cpu_diff();
    for (int64_t n = 0; n < num_items_; ++n) {
      if (place[n] < 0)
        cpu_set(dim, 0.f, dx + n * dim);
      else
        cpu_copy(dim, dy + place[n] * dim, dx + n * dim);
    }
  }
}

}  // namespace augdrop
