#include "common/buffer.h"

#include <algorithm>

namespace trellis {

BufferPool::~BufferPool() {
  for (char* block : free_) delete[] block;
}

char* BufferPool::acquire(size_t size) {
  if (size <= kBlockSize && !free_.empty()) {
    char* block = free_.back();
    free_.pop_back();
    return block;
  }
  return new char[std::max(size, kBlockSize)];
}

void BufferPool::release(char* block, size_t size) {
  if (size == kBlockSize && free_.size() < maxFree_) {
    free_.push_back(block);
  } else {
    delete[] block;
  }
}

char* Buffer::prepare(size_t n) {
  if (capacity_ - write_ >= n) return data_ + write_;
  size_t used = write_ - read_;
  if (data_ != nullptr && capacity_ - used >= n) {
    std::memmove(data_, data_ + read_, used);
  } else {
    size_t newCapacity = std::max(BufferPool::kBlockSize, capacity_);
    while (newCapacity - used < n) newCapacity *= 2;
    char* block = pool_ != nullptr ? pool_->acquire(newCapacity) : new char[newCapacity];
    if (used > 0) std::memcpy(block, data_ + read_, used);
    releaseBlock();
    data_ = block;
    capacity_ = newCapacity;
  }
  read_ = 0;
  write_ = used;
  return data_ + write_;
}

void Buffer::releaseBlock() {
  if (data_ == nullptr) return;
  if (pool_ != nullptr) {
    pool_->release(data_, capacity_);
  } else {
    delete[] data_;
  }
  data_ = nullptr;
  capacity_ = 0;
  read_ = write_ = 0;
}

}  // namespace trellis
