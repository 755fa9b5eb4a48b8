#pragma once
// A connection's place in a limit (a cluster's maxConnections): held by the connection for its
// whole life, so that the count is given back however the connection ends.

#include <memory>
#include <utility>

namespace trellis {

/// What a connection is counted in; hears when the connection parks idle or ends.
class SlotOwner {
 public:
  virtual ~SlotOwner() = default;
  /// The connection ended: its slot is free.
  virtual void slotReleased() = 0;
  /// The connection was parked for reuse: a waiting request may take it.
  virtual void slotIdle() = 0;
};

/// Move-only; an empty slot counts in nothing.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(std::shared_ptr<SlotOwner> owner) : owner_(std::move(owner)) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    if (this != &other) {
      reset();
      owner_ = std::move(other.owner_);
    }
    return *this;
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() { reset(); }

  void reset() {
    if (auto owner = std::move(owner_)) owner->slotReleased();
  }
  void idle() {
    if (owner_) owner_->slotIdle();
  }
  explicit operator bool() const { return owner_ != nullptr; }

 private:
  std::shared_ptr<SlotOwner> owner_;
};

}  // namespace trellis
