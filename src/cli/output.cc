#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cli/cli_error.h"
#include "config/yaml_stream.h"

namespace trellis::cli {
namespace {

/// A plain scalar with this text would be read back as a number, boolean or null (YAML 1.1 and
/// 1.2 core schema spellings), so the emitter must quote it to keep it a string.
bool readsAsAnotherType(const std::string& text) {
  static const char* const kWords[] = {
      "",      "~",    "null", "Null",  "NULL",  "true",  "True", "TRUE", "false", "False",
      "FALSE", "yes",  "Yes",  "YES",   "no",    "No",    "NO",   "on",   "On",    "ON",
      "off",   "Off",  "OFF",  "y",     "Y",     "n",     "N",    ".nan", ".NaN",  ".NAN",
      ".inf",  ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf"};
  for (const char* word : kWords) {
    if (text == word) return true;
  }
  char first = text.front();
  if ((first >= '0' && first <= '9') || first == '-' || first == '+' || first == '.') {
    char* end = nullptr;
    std::strtod(text.c_str(), &end);
    if (end != nullptr && *end == '\0') return true;
    if (text.rfind("0x", 0) == 0 || text.rfind("0o", 0) == 0) return true;
  }
  return false;
}

void emit(YAML::Emitter& out, const nlohmann::json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (auto it = value.begin(); it != value.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : value) emit(out, item);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (readsAsAnotherType(text)) out << YAML::DoubleQuoted;
    out << text;
  } else if (value.is_null()) {
    out << YAML::Null;
  } else if (value.is_boolean()) {
    out << (value.get<bool>() ? "true" : "false");
  } else {
    out << value.dump();
  }
}

}  // namespace

std::string emitYamlDocument(const YAML::Node& node) {
  return config::emitYamlDocument(node) + "\n";
}

OutputFormat parseOutputFormat(std::string_view name) {
  if (name == "table") return OutputFormat::Table;
  if (name == "json") return OutputFormat::Json;
  if (name == "yaml") return OutputFormat::Yaml;
  throw CliError(
      "unknown output format \"" + std::string(name) + "\" (expected table, json or yaml)", 2);
}

std::string renderTable(const Table& table) {
  std::vector<size_t> widths(table.headers.size(), 0);
  auto cellOf = [](const std::vector<std::string>& row, size_t i) -> std::string {
    if (i >= row.size() || row[i].empty()) return "-";
    return row[i];
  };
  for (size_t i = 0; i < table.headers.size(); ++i) {
    widths[i] = table.headers[i].size();
    for (const auto& row : table.rows) widths[i] = std::max(widths[i], cellOf(row, i).size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& row, bool header) {
    std::string text;
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = header ? table.headers[i] : cellOf(row, i);
      text += cell;
      if (i + 1 < widths.size()) text += std::string(widths[i] - cell.size() + 3, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line({}, true);
  for (const auto& row : table.rows) line(row, false);
  return out;
}

std::string jsonToYaml(const nlohmann::json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

void printStructured(std::ostream& out, OutputFormat format, const nlohmann::json& value) {
  if (format == OutputFormat::Yaml) {
    out << jsonToYaml(value);
  } else {
    out << value.dump(2) << "\n";
  }
}

std::string scalarText(const nlohmann::json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

const nlohmann::json& member(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it != object.end() ? *it : kNull;
}

const nlohmann::json& arrayMember(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  const nlohmann::json& value = member(object, key);
  return value.is_array() ? value : kEmpty;
}

std::string percentText(uint64_t weight, uint64_t total) {
  if (total == 0) return "0%";
  uint64_t tenths = (weight * 1000 + total / 2) / total;
  char buffer[32];
  if (tenths % 10 == 0) {
    std::snprintf(buffer, sizeof buffer, "%llu%%", static_cast<unsigned long long>(tenths / 10));
  } else {
    std::snprintf(buffer, sizeof buffer, "%llu.%llu%%",
                  static_cast<unsigned long long>(tenths / 10),
                  static_cast<unsigned long long>(tenths % 10));
  }
  return buffer;
}

}  // namespace trellis::cli
