#pragma once
// An owned, reusable list of header fields for the HTTP/2 codec's submit calls. Names and values
// are copied into one arena, so building a header block costs no allocation once the list has
// grown to its working size; fields() hands out views that stay valid until the next add/clear.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/header_field.h"

namespace trellis::proxy {

class FieldList {
 public:
  void add(std::string_view name, std::string_view value) {
    const auto offset = static_cast<uint32_t>(arena_.size());
    entries_.push_back({offset, static_cast<uint32_t>(name.size()),
                        offset + static_cast<uint32_t>(name.size()),
                        static_cast<uint32_t>(value.size())});
    arena_.append(name);
    arena_.append(value);
  }
  /// Replaces the value of the first field named `name` (a retry's grpc-timeout); false if
  /// there is none. The old value's bytes stay in the arena until clear().
  bool setValue(std::string_view name, std::string_view value) {
    for (Entry& e : entries_) {
      if (std::string_view(arena_.data() + e.offset, e.nameLength) != name) continue;
      e.valueOffset = static_cast<uint32_t>(arena_.size());
      e.valueLength = static_cast<uint32_t>(value.size());
      arena_.append(value);
      return true;
    }
    return false;
  }
  /// Appends to the value of the last field added (e.g. to join x-forwarded-for).
  void appendToLast(std::string_view more) {
    arena_.append(more);  // the last value ends the arena: setValue() is not used while building
    entries_.back().valueLength += static_cast<uint32_t>(more.size());
  }
  std::span<const http::HeaderField> fields() {
    views_.clear();
    for (const Entry& e : entries_) {
      std::string_view name(arena_.data() + e.offset, e.nameLength);
      views_.push_back({name, std::string_view(arena_.data() + e.valueOffset, e.valueLength)});
    }
    return views_;
  }
  bool empty() const { return entries_.empty(); }
  void clear() {
    arena_.clear();
    entries_.clear();
    views_.clear();
  }

 private:
  struct Entry {
    uint32_t offset;  // of the name
    uint32_t nameLength;
    uint32_t valueOffset;
    uint32_t valueLength;
  };
  std::string arena_;
  std::vector<Entry> entries_;
  std::vector<http::HeaderField> views_;
};

}  // namespace trellis::proxy
