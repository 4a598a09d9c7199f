// The project's one exception type. The core never aborts: every failed check throws
// augdrop::Error, and the binding turns it into a Python exception.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace augdrop {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

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
