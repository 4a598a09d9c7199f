// The project's one exception type. The core never aborts: every failed check throws
// augdrop::Error, and the binding turns it into a Python exception (EngineError).
//
// An error raised while a layer is set up or run carries the layer's name and type as fields
// (the binding hands them to Python as EngineError.layer and .layer_type), so that callers
// locate the layer from facts, not by parsing the text back. what() is the message a user
// reads: "layer 'ip1' (InnerProduct): <reason>" for a layer error, <reason> otherwise.
#pragma once

#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace augdrop {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& reason) : std::runtime_error(reason), reason_(reason) {}
  // An error of the layer `layer` of type `layer_type`.
  Error(const std::string& reason, std::string layer, std::string layer_type)
      : std::runtime_error("layer '" + layer + "' (" + layer_type + "): " + reason),
        reason_(reason),
        layer_(std::move(layer)),
        layer_type_(std::move(layer_type)),
        has_layer_(true) {}

  // The message without the layer in front.
  const std::string& reason() const { return reason_; }
  bool has_layer() const { return has_layer_; }
  const std::string& layer() const { return layer_; }
  const std::string& layer_type() const { return layer_type_; }

 private:
  std::string reason_;
  std::string layer_, layer_type_;
  bool has_layer_ = false;
};

// Marks an exception that must reach the caller as itself, not as an Error: a Python layer's
// own exception (layers/python_layer.hpp), which names its layer already.
class ForeignException {
 public:
  virtual ~ForeignException() = default;
};

// Rethrows the exception `e`, caught while the layer `layer` (of type `layer_type`) was set up
// or run, as an Error of that layer. An Error that already names a layer is rethrown as it is:
// the innermost layer is the one that failed. Call it only inside the catch block of `e`
// (a ForeignException is rethrown with `throw;`).
[[noreturn]] inline void RethrowForLayer(const std::exception& e, const std::string& layer,
                                         const std::string& layer_type) {
  if (dynamic_cast<const ForeignException*>(&e) != nullptr) throw;
  if (const auto* err = dynamic_cast<const Error*>(&e)) {
    if (err->has_layer()) throw *err;
    throw Error(err->reason(), layer, layer_type);
  }
  throw Error(e.what(), layer, layer_type);
}

}  // namespace augdrop

// AD_CHECK(cond, "message " << value): throws augdrop::Error with the streamed message.
#define AD_CHECK(cond, msg)                                   \
  do {                                                        \
    if (!(cond)) {                                            \
      std::ostringstream ad_check_os_;                        \
      ad_check_os_ << msg;                                    \
      throw ::augdrop::Error(ad_check_os_.str());             \
    }                                                         \
  } while (0)

#define AD_FAIL(msg) AD_CHECK(false, msg)

// AD_LAYER_FAIL(name, type, "message " << value): throws the error of one layer.
#define AD_LAYER_FAIL(layer, layer_type, msg)                           \
  do {                                                                  \
    std::ostringstream ad_check_os_;                                    \
    ad_check_os_ << msg;                                                \
    throw ::augdrop::Error(ad_check_os_.str(), (layer), (layer_type));  \
  } while (0)
