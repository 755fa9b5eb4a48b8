#pragma once
// trellisd's embedded store: every resource applied to the mesh, in one SQLite file under the
// data directory, with a history of changes for rollback.
//
// Versions follow etcd and the Kubernetes API: one global revision counter; each change that
// alters a resource takes the next revision, which becomes its `resourceVersion`. A change may
// name the resourceVersion it expects (optimistic concurrency): if the resource moved on, the
// whole batch is refused as a conflict and nothing is written. Applying a document identical to
// the stored one is a no-op (applies are idempotent).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace trellis::controlplane {

struct ResourceKey {
  std::string kind;  // e.g. "HTTPRoute"
  std::string ns;    // namespace
  std::string name;
  bool operator==(const ResourceKey&) const = default;
};

struct StoredResource {
  ResourceKey key;
  std::string document;     // the resource as applied (one YAML document)
  int64_t resourceVersion;  // revision of its last change
};

struct HistoryEntry {
  int64_t revision;
  ResourceKey key;
  bool deleted;          // a deletion (document is the last content before it)
  std::string document;  // content as of this revision
};

/// A join token as stored: the secret itself is never kept, only its SHA-256.
struct JoinTokenRecord {
  std::string id;
  std::string secretSha256;  // hex
  std::string ns;
  std::string serviceAccount;
  int64_t createdAt = 0;  // Unix seconds
  int64_t expiresAt = 0;
};

struct Change {
  enum class Op : uint8_t { Put, Delete };
  Op op = Op::Put;
  ResourceKey key;
  std::string document;                    // Put only
  std::optional<int64_t> expectedVersion;  // 0 = must not exist yet
};

struct ApplyResult {
  enum class Outcome : uint8_t { Created, Updated, Unchanged, Deleted, NotFound };
  bool ok = false;
  bool conflict = false;          // an expectedVersion did not match: nothing was written
  std::string error;              // why !ok, naming the resource
  std::vector<Outcome> outcomes;  // parallel to the changes, when ok
  int64_t revision = 0;           // the store's revision after the batch
};

class Store {
 public:
  /// Opens (or creates) `<dataDir>/store.db`. A file that is not a sound SQLite database is an
  /// error naming it, never an empty mesh.
  static std::unique_ptr<Store> open(const std::string& dataDir, std::string& error);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Applies every change or none (one transaction). A dry run reports the same outcomes (and
  /// conflicts) and the revision it would reach, then rolls back.
  ApplyResult apply(const std::vector<Change>& changes, bool dryRun = false);

  std::optional<StoredResource> get(const ResourceKey& key);
  /// Every resource, or those of one kind and/or namespace (empty = any), ordered by key.
  std::vector<StoredResource> list(const std::string& kind = {}, const std::string& ns = {});
  /// Changes of one resource, oldest first.
  std::vector<HistoryEntry> history(const ResourceKey& key);
  int64_t revision();

  /// The registry's instances, kept so that a restarted trellisd still knows where every
  /// instance is until its proxy is back (opaque text per proxy id, written by the control
  /// plane). Outside the resources' revisions and history. Return false on a write error.
  bool putInstance(const std::string& proxyId, const std::string& registration);
  bool removeInstance(const std::string& proxyId);
  std::vector<std::pair<std::string, std::string>> instances();

  /// Join tokens (identity/join_tokens.h), outside the resources' revisions and history.
  bool putJoinToken(const JoinTokenRecord& token);
  std::optional<JoinTokenRecord> joinToken(const std::string& id);
  /// Forgets tokens that expired before `unixSeconds` (they can only be refused); the count.
  int removeJoinTokensExpiredBefore(int64_t unixSeconds);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace trellis::controlplane
