#include "cli/output.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

TEST(Table, AlignsColumnsAndShowsEmptyCellsAsDash) {
  Table table{{"NAMESPACE", "NAME", "VERSION"}, {}};
  table.addRow({"shop", "billing", "12"});
  table.addRow({"default", "a-much-longer-name", ""});
  EXPECT_EQ(renderTable(table),
            "NAMESPACE   NAME                 VERSION\n"
            "shop        billing              12\n"
            "default     a-much-longer-name   -\n");
}

TEST(Table, HeaderOnlyWhenNoRows) {
  Table table{{"ID", "SERVICE"}, {}};
  EXPECT_EQ(renderTable(table), "ID   SERVICE\n");
}

TEST(JsonToYaml, KeepsTypesAndQuotesStringsThatWouldChangeType) {
  nlohmann::json value = {{"name", "billing"}, {"version", "12"},      {"count", 12},
                          {"flag", "true"},    {"on", true},           {"empty", ""},
                          {"none", nullptr},   {"list", {1, "2", "x"}}};
  std::string yaml = jsonToYaml(value);
  YAML::Node back = YAML::Load(yaml);
  EXPECT_EQ(back["name"].Scalar(), "billing");
  EXPECT_EQ(back["version"].Tag(), "!") << yaml;  // quoted: stays a string
  EXPECT_EQ(back["count"].Tag(), "?") << yaml;    // plain: an integer
  EXPECT_EQ(back["flag"].Tag(), "!") << yaml;
  EXPECT_EQ(back["on"].as<bool>(), true);
  EXPECT_EQ(back["empty"].Tag(), "!") << yaml;
  EXPECT_TRUE(back["none"].IsNull());
  EXPECT_EQ(back["list"][1].Tag(), "!") << yaml;
  EXPECT_EQ(back["list"][2].Scalar(), "x");
}

TEST(OutputFormat, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parseOutputFormat("json"), OutputFormat::Json);
  EXPECT_EQ(parseOutputFormat("yaml"), OutputFormat::Yaml);
  EXPECT_EQ(parseOutputFormat("table"), OutputFormat::Table);
  EXPECT_THROW(parseOutputFormat("xml"), CliError);
}

TEST(Percent, RoundsToOneDecimal) {
  EXPECT_EQ(percentText(90, 100), "90%");
  EXPECT_EQ(percentText(1, 3), "33.3%");
  EXPECT_EQ(percentText(2, 3), "66.7%");
  EXPECT_EQ(percentText(0, 0), "0%");
  EXPECT_EQ(percentText(5, 5), "100%");
}

TEST(Member, NeverThrowsOnSurprisingShapes) {
  nlohmann::json array = {1, 2};
  EXPECT_TRUE(member(array, "x").is_null());
  EXPECT_TRUE(arrayMember(nlohmann::json{{"items", "not a list"}}, "items").empty());
  EXPECT_EQ(arrayMember(nlohmann::json{{"items", {1}}}, "items").size(), 1u);
}

}  // namespace
}  // namespace trellis::cli
