// Embed: a lookup table, one learned row per index (Caffe's embed_layer.cpp); an
// InnerProduct on one-hot inputs. bottom: indices of any shape S (floats holding integers in
// [0, input_dim)); top: S + (num_output).
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y[m, :] = W[x_m, :] (+ b), W: (input_dim, num_output), b: (num_output)
 *        (embed_param: num_output and input_dim > 0, bias_term true, weight_filler,
 *        bias_filler).
 *
 * Backward: dW[k, :] += sum over m with x_m = k of dy[m, :], in m order; db += sum_m dy[m, :].
 * The indices take no gradient (asking for one is an error, as in Caffe).
 * DEVIATION: an index outside [0, input_dim) or not an integer is an error; Caffe checks only
 * in debug builds (DCHECK) and reads outside W otherwise.
 */
class EmbedLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Embed"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

 private:
  void CheckIndices(const Blob& bottom) const;  // on the host

  int64_t M_ = 0;  // number of indices
  int64_t K_ = 0;  // input_dim
  int64_t N_ = 0;  // num_output
  bool bias_term_ = true;
};

}  // namespace augdrop
