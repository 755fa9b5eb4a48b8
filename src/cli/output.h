#pragma once
// How trellisctl prints: aligned tables for people (the default), JSON or YAML for scripts.

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::cli {

enum class OutputFormat { Table, Json, Yaml };

/// "table", "json" or "yaml"; anything else is a CliError.
OutputFormat parseOutputFormat(std::string_view name);

/// Columns separated by three spaces and padded to the widest cell, header in capitals (as
/// kubectl prints them). Empty cells print as "-" so that columns stay readable by `awk`.
struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;
  void addRow(std::vector<std::string> row) { rows.push_back(std::move(row)); }
};

std::string renderTable(const Table& table);

/// A JSON value as a YAML block (objects keep their key order; strings that YAML would read as
/// another type are quoted by the emitter).
std::string jsonToYaml(const nlohmann::json& value);

/// A YAML document in block style that keeps the quotes of quoted scalars (yaml-cpp's own node
/// emitter drops them, turning `resourceVersion: "12"` into a number). A scalar tagged "!" (as
/// the parser tags quoted ones; set it with SetTag("!")) is written double-quoted.
std::string emitYamlDocument(const YAML::Node& node);

/// Prints a JSON answer as pretty JSON or YAML (for -o json / -o yaml).
void printStructured(std::ostream& out, OutputFormat format, const nlohmann::json& value);

/// A JSON scalar as text: strings unquoted, numbers as written, null as "".
std::string scalarText(const nlohmann::json& value);

/// object[key] when `object` is an object holding `key`, else null; never throws, so that a
/// surprising answer is a missing value rather than a crash.
const nlohmann::json& member(const nlohmann::json& object, std::string_view key);

/// member() as an array: empty unless it is one.
const nlohmann::json& arrayMember(const nlohmann::json& object, std::string_view key);

/// "90%" for weight 90 of total 100; fractions keep one decimal ("33.3%").
std::string percentText(uint64_t weight, uint64_t total);

}  // namespace trellis::cli
