#pragma once
// Validation of an apply before anything is stored: the files are cut into resources, laid over
// the stored ones, and the whole mesh is checked the way every proxy will check its part
// (the proxy's loader and assembler, then the xDS codec both ways). trellisd runs it on every
// apply; `trellisctl validate -f` runs it offline over an empty mesh.

#include <string>
#include <vector>

#include "config/loader.h"
#include "controlplane/resources/documents.h"
#include "controlplane/store/store.h"

namespace trellis::controlplane {

struct SourceFile {
  std::string name;  // shown in messages, e.g. "examples/shop/routes.yaml"
  std::string content;
};

struct ValidationResult {
  std::vector<ResourceDocument> documents;  // what would be stored, in file order
  std::vector<config::LoadError> errors;    // empty when the apply may proceed
  std::vector<config::LoadError> warnings;  // e.g. a route whose backend Service is missing
  bool ok() const { return errors.empty(); }
};

/// Validates `files` applied over `stored` (the store's current content; empty offline).
ValidationResult validateApply(const std::vector<StoredResource>& stored,
                               const std::vector<SourceFile>& files);

/// Validates the stored set without `removed` (a delete): errors if what remains is invalid.
ValidationResult validateRemoval(const std::vector<StoredResource>& stored,
                                 const ResourceKey& removed);

}  // namespace trellis::controlplane
