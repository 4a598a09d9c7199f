#include "core/params.hpp"

#include "core/errors.hpp"

namespace augdrop {
namespace {

double AsFloat(const ParamValue& v, const std::string& name) {
  if (auto d = std::get_if<double>(&v)) return *d;
  if (auto i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  AD_FAIL("field '" << name << "' is not a number");
}

int64_t AsInt(const ParamValue& v, const std::string& name) {
  if (auto i = std::get_if<int64_t>(&v)) return *i;
  if (auto b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  AD_FAIL("field '" << name << "' is not an integer");
}

}  // namespace

bool Params::has(const std::string& name) const {
  auto it = fields.find(name);
  return it != fields.end() && !it->second.empty();
}

size_t Params::count(const std::string& name) const {
  auto it = fields.find(name);
  return it == fields.end() ? 0 : it->second.size();
}

double Params::get_float(const std::string& name, double def) const {
  return has(name) ? AsFloat(fields.at(name).back(), name) : def;
}

int64_t Params::get_int(const std::string& name, int64_t def) const {
  return has(name) ? AsInt(fields.at(name).back(), name) : def;
}

bool Params::get_bool(const std::string& name, bool def) const {
  if (!has(name)) return def;
  const ParamValue& v = fields.at(name).back();
  if (auto b = std::get_if<bool>(&v)) return *b;
  return AsInt(v, name) != 0;
}

std::string Params::get_string(const std::string& name, const std::string& def) const {
  if (!has(name)) return def;
  const ParamValue& v = fields.at(name).back();
  if (auto s = std::get_if<std::string>(&v)) return *s;
  AD_FAIL("field '" << name << "' is not a string or enum");
}

const Params& Params::get_message(const std::string& name) const {
  static const Params kEmpty;
  if (!has(name)) return kEmpty;
  const ParamValue& v = fields.at(name).back();
  if (auto m = std::get_if<std::shared_ptr<Params>>(&v)) return **m;
  AD_FAIL("field '" << name << "' is not a message");
}

std::vector<double> Params::get_floats(const std::string& name) const {
  std::vector<double> out;
  if (has(name))
    for (const auto& v : fields.at(name)) out.push_back(AsFloat(v, name));
  return out;
}

std::vector<int64_t> Params::get_ints(const std::string& name) const {
  std::vector<int64_t> out;
  if (has(name))
    for (const auto& v : fields.at(name)) out.push_back(AsInt(v, name));
  return out;
}

std::vector<std::string> Params::get_strings(const std::string& name) const {
  std::vector<std::string> out;
  if (!has(name)) return out;
  for (const auto& v : fields.at(name)) {
    auto s = std::get_if<std::string>(&v);
    AD_CHECK(s, "field '" << name << "' is not a string");
    out.push_back(*s);
  }
  return out;
}

std::vector<const Params*> Params::get_messages(const std::string& name) const {
  std::vector<const Params*> out;
  if (!has(name)) return out;
  for (const auto& v : fields.at(name)) {
    auto m = std::get_if<std::shared_ptr<Params>>(&v);
    AD_CHECK(m, "field '" << name << "' is not a message");
    out.push_back(m->get());
  }
  return out;
}

void Params::set(const std::string& name, ParamValue value) {
  fields[name] = {std::move(value)};
}

void Params::add(const std::string& name, ParamValue value) {
  fields[name].push_back(std::move(value));
}

}  // namespace augdrop
