#pragma once
// Byte buffers for connections. A Buffer is a contiguous region [read, write) of a block; blocks
// come from a per-worker BufferPool so that steady traffic does not touch the allocator, and an
// idle connection holds no block at all.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace trellis {

class BufferPool {
 public:
  static constexpr size_t kBlockSize = size_t{16} * 1024;
  /// Keeps at most `maxFree` idle blocks: enough to recycle blocks between the requests in
  /// flight, few enough that a burst of connections does not pin memory afterwards.
  explicit BufferPool(size_t maxFree = 64) : maxFree_(maxFree) {}
  ~BufferPool();
  /// A block of at least `size` bytes; pooled when size <= kBlockSize.
  char* acquire(size_t size);
  void release(char* block, size_t size);

 private:
  size_t maxFree_;
  std::vector<char*> free_;
};

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(BufferPool* pool) : pool_(pool) {}
  ~Buffer() { releaseBlock(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void setPool(BufferPool* pool) { pool_ = pool; }

  char* data() { return data_ + read_; }
  const char* data() const { return data_ + read_; }
  size_t size() const { return write_ - read_; }
  bool empty() const { return read_ == write_; }
  std::string_view view() const { return {data_ + read_, write_ - read_}; }

  /// Ensures at least `n` writable bytes at the tail (compacting or growing) and returns them.
  char* prepare(size_t n);
  size_t writable() const { return capacity_ - write_; }
  bool hasBlock() const { return data_ != nullptr; }
  char* tail() { return data_ + write_; }
  void commit(size_t n) { write_ += n; }
  void append(const char* p, size_t n) {
    if (n == 0) return;
    std::memcpy(prepare(n), p, n);
    write_ += n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void consume(size_t n) {
    read_ += n;
    if (read_ == write_) read_ = write_ = 0;
  }
  /// Returns the block to the pool when empty, so idle connections hold no memory.
  void shrinkIfEmpty() {
    if (empty()) releaseBlock();
  }
  void clear() { read_ = write_ = 0; }

 private:
  void releaseBlock();
  BufferPool* pool_ = nullptr;
  char* data_ = nullptr;
  size_t capacity_ = 0;
  size_t read_ = 0;
  size_t write_ = 0;
};

}  // namespace trellis
