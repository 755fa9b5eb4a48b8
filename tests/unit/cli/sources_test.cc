#include "cli/sources.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

namespace fs = std::filesystem;

class SourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("trellisctl-sources-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string write(const std::string& relative, const std::string& content) {
    fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
    return path.string();
  }

  fs::path root_;
};

TEST_F(SourcesTest, FoldersRecurseYamlFilesInSortedOrder) {
  write("mesh/b.yaml", "b");
  write("mesh/a.yml", "a");
  write("mesh/sub/c.yaml", "c");
  write("mesh/README.md", "not yaml");
  write("mesh/notes.txt", "not yaml");
  std::vector<std::string> paths = expandPaths({(root_ / "mesh").string()});
  std::string mesh = (root_ / "mesh").string();
  EXPECT_EQ(paths,
            (std::vector<std::string>{mesh + "/a.yml", mesh + "/b.yaml", mesh + "/sub/c.yaml"}));
}

TEST_F(SourcesTest, FilesAreTakenWhateverTheirExtensionAndOrderIsKept) {
  std::string second = write("second.txt", "2");
  std::string first = write("first.yaml", "1");
  EXPECT_EQ(expandPaths({second, first, "-"}), (std::vector<std::string>{second, first, "-"}));
}

TEST_F(SourcesTest, MissingPathAndEmptyFolderAreErrors) {
  fs::create_directories(root_ / "empty");
  write("empty/readme.txt", "x");
  try {
    expandPaths({(root_ / "nope.yaml").string()});
    FAIL();
  } catch (const CliError& error) {
    EXPECT_NE(std::string(error.what()).find("nope.yaml: no such file or folder"),
              std::string::npos);
  }
  try {
    expandPaths({(root_ / "empty").string()});
    FAIL();
  } catch (const CliError& error) {
    EXPECT_NE(std::string(error.what()).find("folder has no .yaml or .yml files"),
              std::string::npos);
  }
  EXPECT_THROW(expandPaths({}), CliError);
}

TEST_F(SourcesTest, ReadsStdinOnceAndEachFileOnce) {
  std::string file = write("mesh/a.yaml", "kind: Service\n");
  std::istringstream in("from stdin");
  auto inputs = readInputs({file, "-", (root_ / "mesh").string()}, in);
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].name, file);
  EXPECT_EQ(inputs[0].content, "kind: Service\n");
  EXPECT_EQ(inputs[1].name, "<stdin>");
  EXPECT_EQ(inputs[1].content, "from stdin");
  std::istringstream again("x");
  EXPECT_THROW(readInputs({"-", "-"}, again), CliError);
}

}  // namespace
}  // namespace trellis::cli
