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
    entries_.push_back({static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(name.size()),
                        static_cast<uint32_t>(value.size())});
    arena_.append(name);
    arena_.append(value);
  }
  /// Appends to the value of the last field added (e.g. to join x-forwarded-for).
  void appendToLast(std::string_view more) {
    arena_.append(more);
    entries_.back().valueLength += static_cast<uint32_t>(more.size());
  }
  std::span<const http::HeaderField> fields() {
    views_.clear();
    for (const Entry& e : entries_) {
      std::string_view name(arena_.data() + e.offset, e.nameLength);
      views_.push_back({name, std::string_view(name.data() + e.nameLength, e.valueLength)});
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
    uint32_t offset;
    uint32_t nameLength;
    uint32_t valueLength;
  };
  std::string arena_;
  std::vector<Entry> entries_;
  std::vector<http::HeaderField> views_;
};

}  // namespace trellis::proxy
