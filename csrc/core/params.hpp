// A parsed protobuf message (a LayerParameter, a FillerParameter, ...) as a plain tree.
// The Python driver parses and validates the prototxt text against Caffe's schema and hands
// the core this tree; layers read their fields with Caffe's names and defaults.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace augdrop {

class Params;
// double for float fields, int64_t for integer fields, bool, std::string for strings and
// enum names, Params for nested messages.
using ParamValue = std::variant<double, int64_t, bool, std::string, std::shared_ptr<Params>>;

class Params {
 public:
  // Every field is a list: one value for optional fields, any number for repeated ones.
  std::map<std::string, std::vector<ParamValue>> fields;

  bool has(const std::string& name) const;
  size_t count(const std::string& name) const;

  double get_float(const std::string& name, double def) const;
  int64_t get_int(const std::string& name, int64_t def) const;
  bool get_bool(const std::string& name, bool def) const;
  std::string get_string(const std::string& name, const std::string& def) const;
  // The nested message, or an empty one when the field is absent.
  const Params& get_message(const std::string& name) const;

  std::vector<double> get_floats(const std::string& name) const;
  std::vector<int64_t> get_ints(const std::string& name) const;
  std::vector<std::string> get_strings(const std::string& name) const;
  std::vector<const Params*> get_messages(const std::string& name) const;

  void set(const std::string& name, ParamValue value);  // replaces all values
  void add(const std::string& name, ParamValue value);  // appends
};

}  // namespace augdrop
