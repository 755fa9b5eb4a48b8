#include "controlplane/store/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace trellis::controlplane {
namespace {

namespace fs = std::filesystem;
using Outcome = ApplyResult::Outcome;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trellis-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Store> open() {
    std::string error;
    auto store = Store::open(dir_.string(), error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }
  static Change put(const ResourceKey& key, std::string doc,
                    std::optional<int64_t> expected = std::nullopt) {
    return Change{Change::Op::Put, key, std::move(doc), expected};
  }
  fs::path dir_;
  const ResourceKey route_{"HTTPRoute", "shop", "billing"};
  const ResourceKey service_{"Service", "shop", "billing"};
};

TEST_F(StoreTest, CreatesUpdatesAndLeavesIdenticalDocumentsAlone) {
  auto store = open();
  auto first = store->apply({put(route_, "v1"), put(service_, "s1")});
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.outcomes, (std::vector{Outcome::Created, Outcome::Created}));
  EXPECT_EQ(first.revision, 2);
  auto again = store->apply({put(route_, "v1")});
  EXPECT_EQ(again.outcomes, std::vector{Outcome::Unchanged});
  EXPECT_EQ(again.revision, 2) << "an idempotent apply takes no revision";
  auto update = store->apply({put(route_, "v2")});
  EXPECT_EQ(update.outcomes, std::vector{Outcome::Updated});
  auto stored = store->get(route_);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->document, "v2");
  EXPECT_EQ(stored->resourceVersion, 3);
}

TEST_F(StoreTest, AConflictRefusesTheWholeBatch) {
  auto store = open();
  ASSERT_TRUE(store->apply({put(route_, "v1")}).ok);  // resourceVersion 1
  ASSERT_TRUE(store->apply({put(route_, "v2")}).ok);  // 2: someone else's change
  auto stale = store->apply({put(service_, "s1"), put(route_, "mine", 1)});
  EXPECT_FALSE(stale.ok);
  EXPECT_TRUE(stale.conflict);
  EXPECT_NE(stale.error.find("HTTPRoute shop/billing: resourceVersion 1 expected, the store has 2"),
            std::string::npos)
      << stale.error;
  EXPECT_FALSE(store->get(service_)) << "nothing of a refused batch is written";
  EXPECT_EQ(store->get(route_)->document, "v2");
  EXPECT_EQ(store->revision(), 2);
}

TEST_F(StoreTest, ExpectedVersionZeroMeansCreateOnly) {
  auto store = open();
  ASSERT_TRUE(store->apply({put(route_, "v1", 0)}).ok);
  auto second = store->apply({put(route_, "v1b", 0)});
  EXPECT_TRUE(second.conflict);
}

TEST_F(StoreTest, DeletesAndKeepsHistoryForRollback) {
  auto store = open();
  ASSERT_TRUE(store->apply({put(route_, "v1")}).ok);
  ASSERT_TRUE(store->apply({put(route_, "v2")}).ok);
  auto deleted = store->apply({Change{Change::Op::Delete, route_, "", std::nullopt}});
  EXPECT_EQ(deleted.outcomes, std::vector{Outcome::Deleted});
  EXPECT_FALSE(store->get(route_));
  auto missing = store->apply({Change{Change::Op::Delete, route_, "", std::nullopt}});
  EXPECT_EQ(missing.outcomes, std::vector{Outcome::NotFound});
  auto history = store->history(route_);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].document, "v1");
  EXPECT_EQ(history[1].document, "v2");
  EXPECT_TRUE(history[2].deleted);
  // Rolling back is applying an old revision's document again.
  ASSERT_TRUE(store->apply({put(route_, history[0].document, 0)}).ok);
  EXPECT_EQ(store->get(route_)->document, "v1");
}

TEST_F(StoreTest, ListsByKindAndNamespace) {
  auto store = open();
  ASSERT_TRUE(
      store->apply({put(route_, "r"), put(service_, "s"), put({"Service", "auth", "login"}, "a")})
          .ok);
  EXPECT_EQ(store->list().size(), 3u);
  EXPECT_EQ(store->list("Service").size(), 2u);
  EXPECT_EQ(store->list("", "shop").size(), 2u);
  auto services = store->list("Service", "shop");
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].key, service_);
}

TEST_F(StoreTest, SurvivesARestart) {
  {
    auto store = open();
    ASSERT_TRUE(store->apply({put(route_, "v1"), put(service_, "s1")}).ok);
  }
  auto reopened = open();
  EXPECT_EQ(reopened->revision(), 2);
  EXPECT_EQ(reopened->get(service_)->document, "s1");
}

TEST_F(StoreTest, ACorruptFileIsAClearErrorNotAnEmptyMesh) {
  fs::create_directories(dir_);
  {
    std::ofstream junk(dir_ / "store.db", std::ios::binary);
    junk << std::string(8192, 'x');
  }
  std::string error;
  EXPECT_EQ(Store::open(dir_.string(), error), nullptr);
  EXPECT_NE(error.find("store.db: not a sound SQLite database"), std::string::npos) << error;
}

TEST_F(StoreTest, ATruncatedDatabaseIsRefused) {
  {
    auto store = open();
    std::vector<Change> many;
    for (int i = 0; i < 200; ++i) {
      many.push_back(put({"Service", "shop", "s" + std::to_string(i)}, std::string(2000, 'y')));
    }
    ASSERT_TRUE(store->apply(many).ok);
  }
  // Checkpointed into the main file on close; cut it in half.
  auto path = dir_ / "store.db";
  auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);
  fs::remove(dir_ / "store.db-wal");
  std::string error;
  EXPECT_EQ(Store::open(dir_.string(), error), nullptr);
  EXPECT_NE(error.find("not a sound SQLite database"), std::string::npos) << error;
}

TEST_F(StoreTest, InstancesSurviveAReopenOutsideTheRevisions) {
  {
    auto store = open();
    ASSERT_TRUE(store->putInstance("b-1.shop", "{\"a\":1}"));
    ASSERT_TRUE(store->putInstance("b-2.shop", "{\"a\":2}"));
    ASSERT_TRUE(store->putInstance("b-1.shop", "{\"a\":3}"));  // replaced, not added
    EXPECT_EQ(store->revision(), 0) << "the registry is not configuration";
  }
  auto store = open();
  auto instances = store->instances();
  ASSERT_EQ(instances.size(), 2u);
  EXPECT_EQ(instances[0], std::make_pair(std::string("b-1.shop"), std::string("{\"a\":3}")));
  ASSERT_TRUE(store->removeInstance("b-1.shop"));
  ASSERT_EQ(store->instances().size(), 1u);
  EXPECT_EQ(store->instances()[0].first, "b-2.shop");
}

TEST_F(StoreTest, AnEmptyStoreFileIsRefusedNotTakenForANewMesh) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "store.db").close();
  std::string error;
  EXPECT_EQ(Store::open(dir_.string(), error), nullptr);
  EXPECT_NE(error.find("store.db: the file is empty"), std::string::npos) << error;
}

TEST_F(StoreTest, ADryRunReportsOutcomesAndConflictsAndWritesNothing) {
  auto store = open();
  ASSERT_TRUE(store->apply({put(route_, "v1")}).ok);
  auto dry = store->apply({put(route_, "v2"), put(service_, "s1")}, true);
  ASSERT_TRUE(dry.ok) << dry.error;
  EXPECT_EQ(dry.outcomes, (std::vector<Outcome>{Outcome::Updated, Outcome::Created}));
  EXPECT_EQ(store->revision(), 1);
  EXPECT_EQ(store->get(route_)->document, "v1");
  EXPECT_FALSE(store->get(service_).has_value());
  EXPECT_TRUE(store->apply({put(route_, "v3", 7)}, true).conflict);
}

}  // namespace
}  // namespace trellis::controlplane
