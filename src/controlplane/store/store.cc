#include "controlplane/store/store.h"

#include <sqlite3.h>

#include <filesystem>

namespace trellis::controlplane {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema', 1), ('revision', 0);
CREATE TABLE IF NOT EXISTS resources (
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  document TEXT NOT NULL, resource_version INTEGER NOT NULL,
  PRIMARY KEY (kind, namespace, name));
CREATE TABLE IF NOT EXISTS history (
  revision INTEGER PRIMARY KEY,
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  deleted INTEGER NOT NULL, document TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_by_key ON history (kind, namespace, name, revision);
CREATE TABLE IF NOT EXISTS instances (proxy_id TEXT PRIMARY KEY, registration TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS join_tokens (
  id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, namespace TEXT NOT NULL,
  service_account TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
)sql";

/// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Statement& bindKey(const ResourceKey& key) {
    return bind(1, key.kind).bind(2, key.ns).bind(3, key.name);
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return stmt_ == nullptr ? SQLITE_ERROR : sqlite3_step(stmt_); }
  std::string text(int column) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return p == nullptr ? std::string()
                        : std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

bool exec(sqlite3* db, const char* sql, std::string& error) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  error = message != nullptr ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return false;
}

std::string describe(const ResourceKey& key) {
  return key.kind + " " + key.ns + "/" + key.name;
}

}  // namespace

std::unique_ptr<Store> Store::open(const std::string& dataDir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dataDir, ec);
  if (ec) {
    error = "data dir " + dataDir + ": " + ec.message();
    return nullptr;
  }
  const std::string path = (std::filesystem::path(dataDir) / "store.db").string();
  // SQLite takes an empty file for a new database: an existing store emptied by a failed copy or
  // a full disk would come back as an empty mesh. A new store is only ever created from nothing.
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) == 0 && !ec) {
    error = path +
            ": the file is empty (not a trellisd store); restore it from a backup, or "
            "remove it to start with an empty mesh";
    return nullptr;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    error = path + ": " + (db != nullptr ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  // quick_check reads every page: a truncated or damaged file is refused here, before any
  // proxy could be handed an empty or partial mesh.
  {
    Statement check(db, "PRAGMA quick_check");
    int rc = check.step();
    if (rc != SQLITE_ROW || check.text(0) != "ok") {
      error = path + ": not a sound SQLite database (" +
              (rc == SQLITE_ROW ? check.text(0) : check.error()) +
              "); restore it from a backup or move it away to start empty";
      return nullptr;
    }
  }  // finalized: its read transaction would block the journal-mode change
  std::string sqlError;
  if (!exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", sqlError) ||
      !exec(db, kSchema, sqlError)) {
    error = path + ": " + sqlError;
    return nullptr;
  }
  Statement schema(db, "SELECT value FROM meta WHERE key = 'schema'");
  if (schema.step() != SQLITE_ROW || schema.integer(0) != kSchemaVersion) {
    error = path + ": written by another trellisd version (schema " +
            std::to_string(schema.integer(0)) + ", this one reads " +
            std::to_string(kSchemaVersion) + ")";
    return nullptr;
  }
  return store;
}

Store::~Store() {
  sqlite3_close(db_);
}

int64_t Store::revision() {
  Statement s(db_, "SELECT value FROM meta WHERE key = 'revision'");
  return s.step() == SQLITE_ROW ? s.integer(0) : 0;
}

ApplyResult Store::apply(const std::vector<Change>& changes, bool dryRun) {
  ApplyResult result;
  std::string error;
  if (!exec(db_, "BEGIN IMMEDIATE", error)) {
    result.error = "store: " + error;
    return result;
  }
  auto fail = [&](std::string message, bool conflict = false) {
    std::string ignored;
    exec(db_, "ROLLBACK", ignored);
    result.ok = false;
    result.conflict = conflict;
    result.error = std::move(message);
    result.outcomes.clear();
    return result;
  };
  int64_t revision = this->revision();
  for (const Change& change : changes) {
    Statement current(db_,
                      "SELECT document, resource_version FROM resources "
                      "WHERE kind = ?1 AND namespace = ?2 AND name = ?3");
    current.bindKey(change.key);
    int rc = current.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail("store: " + current.error());
    const bool exists = rc == SQLITE_ROW;
    const int64_t version = exists ? current.integer(1) : 0;
    const std::string document = exists ? current.text(0) : std::string();
    if (change.expectedVersion && *change.expectedVersion != version) {
      return fail(describe(change.key) + ": resourceVersion " +
                      std::to_string(*change.expectedVersion) + " expected, the store has " +
                      (exists ? std::to_string(version) : "no such resource") +
                      " (changed meanwhile: read it again and retry)",
                  true);
    }
    if (change.op == Change::Op::Delete) {
      if (!exists) {
        result.outcomes.push_back(ApplyResult::Outcome::NotFound);
        continue;
      }
      ++revision;
      Statement del(db_, "DELETE FROM resources WHERE kind = ?1 AND namespace = ?2 AND name = ?3");
      Statement hist(db_, "INSERT INTO history VALUES (?4, ?1, ?2, ?3, 1, ?5)");
      del.bindKey(change.key);
      hist.bindKey(change.key).bind(4, revision).bind(5, document);
      if (del.step() != SQLITE_DONE || hist.step() != SQLITE_DONE) {
        return fail("store: " + del.error());
      }
      result.outcomes.push_back(ApplyResult::Outcome::Deleted);
      continue;
    }
    if (exists && document == change.document) {
      result.outcomes.push_back(ApplyResult::Outcome::Unchanged);
      continue;
    }
    ++revision;
    Statement put(db_, "INSERT OR REPLACE INTO resources VALUES (?1, ?2, ?3, ?5, ?4)");
    Statement hist(db_, "INSERT INTO history VALUES (?4, ?1, ?2, ?3, 0, ?5)");
    put.bindKey(change.key).bind(4, revision).bind(5, change.document);
    hist.bindKey(change.key).bind(4, revision).bind(5, change.document);
    if (put.step() != SQLITE_DONE || hist.step() != SQLITE_DONE) {
      return fail("store: " + put.error());
    }
    result.outcomes.push_back(exists ? ApplyResult::Outcome::Updated
                                     : ApplyResult::Outcome::Created);
  }
  Statement bump(db_, "UPDATE meta SET value = ?1 WHERE key = 'revision'");
  bump.bind(1, revision);
  if (bump.step() != SQLITE_DONE) return fail("store: " + bump.error());
  if (!exec(db_, dryRun ? "ROLLBACK" : "COMMIT", error)) return fail("store: " + error);
  result.ok = true;
  result.revision = revision;
  return result;
}

std::optional<StoredResource> Store::get(const ResourceKey& key) {
  Statement s(db_,
              "SELECT document, resource_version FROM resources "
              "WHERE kind = ?1 AND namespace = ?2 AND name = ?3");
  s.bindKey(key);
  if (s.step() != SQLITE_ROW) return std::nullopt;
  return StoredResource{key, s.text(0), s.integer(1)};
}

std::vector<StoredResource> Store::list(const std::string& kind, const std::string& ns) {
  Statement s(db_,
              "SELECT kind, namespace, name, document, resource_version FROM resources "
              "WHERE (?1 = '' OR kind = ?1) AND (?2 = '' OR namespace = ?2) "
              "ORDER BY kind, namespace, name");
  s.bind(1, kind).bind(2, ns);
  std::vector<StoredResource> out;
  while (s.step() == SQLITE_ROW) {
    out.push_back({{s.text(0), s.text(1), s.text(2)}, s.text(3), s.integer(4)});
  }
  return out;
}

std::vector<HistoryEntry> Store::history(const ResourceKey& key) {
  Statement s(db_,
              "SELECT revision, deleted, document FROM history "
              "WHERE kind = ?1 AND namespace = ?2 AND name = ?3 ORDER BY revision");
  s.bindKey(key);
  std::vector<HistoryEntry> out;
  while (s.step() == SQLITE_ROW) out.push_back({s.integer(0), key, s.integer(1) != 0, s.text(2)});
  return out;
}

bool Store::putInstance(const std::string& proxyId, const std::string& registration) {
  Statement s(db_, "INSERT OR REPLACE INTO instances VALUES (?1, ?2)");
  s.bind(1, proxyId).bind(2, registration);
  return s.step() == SQLITE_DONE;
}

bool Store::removeInstance(const std::string& proxyId) {
  Statement s(db_, "DELETE FROM instances WHERE proxy_id = ?1");
  s.bind(1, proxyId);
  return s.step() == SQLITE_DONE;
}

std::vector<std::pair<std::string, std::string>> Store::instances() {
  Statement s(db_, "SELECT proxy_id, registration FROM instances ORDER BY proxy_id");
  std::vector<std::pair<std::string, std::string>> out;
  while (s.step() == SQLITE_ROW) out.emplace_back(s.text(0), s.text(1));
  return out;
}

bool Store::putJoinToken(const JoinTokenRecord& token) {
  Statement s(db_, "INSERT INTO join_tokens VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  s.bind(1, token.id)
      .bind(2, token.secretSha256)
      .bind(3, token.ns)
      .bind(4, token.serviceAccount)
      .bind(5, token.createdAt)
      .bind(6, token.expiresAt);
  return s.step() == SQLITE_DONE;
}

std::optional<JoinTokenRecord> Store::joinToken(const std::string& id) {
  Statement s(db_,
              "SELECT id, secret_sha256, namespace, service_account, created_at, expires_at "
              "FROM join_tokens WHERE id = ?1");
  s.bind(1, id);
  if (s.step() != SQLITE_ROW) return std::nullopt;
  return JoinTokenRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.integer(4), s.integer(5)};
}

int Store::removeJoinTokensExpiredBefore(int64_t unixSeconds) {
  Statement s(db_, "DELETE FROM join_tokens WHERE expires_at < ?1");
  s.bind(1, unixSeconds);
  return s.step() == SQLITE_DONE ? sqlite3_changes(db_) : 0;
}

}  // namespace trellis::controlplane
