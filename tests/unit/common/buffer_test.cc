#include "common/buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis {
namespace {

TEST(Buffer, AppendConsumeAndView) {
  BufferPool pool;
  Buffer buffer(&pool);
  buffer.append("hello ");
  buffer.append("world");
  EXPECT_EQ(buffer.view(), "hello world");
  buffer.consume(6);
  EXPECT_EQ(buffer.view(), "world");
  buffer.consume(5);
  EXPECT_TRUE(buffer.empty());
}

TEST(Buffer, GrowsBeyondOneBlockKeepingContent) {
  BufferPool pool;
  Buffer buffer(&pool);
  std::string big(3 * BufferPool::kBlockSize + 17, 'x');
  big[0] = 'a';
  big.back() = 'z';
  buffer.append(big);
  EXPECT_EQ(buffer.view(), big);
}

TEST(Buffer, CompactsInsteadOfGrowingWhenRoomAtFront) {
  BufferPool pool;
  Buffer buffer(&pool);
  std::string chunk(BufferPool::kBlockSize - 10, 'y');
  buffer.append(chunk);
  buffer.consume(chunk.size() - 5);
  char* tail = buffer.prepare(100);
  EXPECT_NE(tail, nullptr);
  EXPECT_EQ(buffer.view(), "yyyyy");
  EXPECT_GE(buffer.writable(), 100u);
}

TEST(Buffer, IdleBufferReturnsItsBlockToThePool) {
  BufferPool pool;
  {
    Buffer buffer(&pool);
    buffer.append("x");
    buffer.consume(1);
    buffer.shrinkIfEmpty();
    // The pooled block is reused by the next buffer instead of a fresh allocation.
    Buffer other(&pool);
    char* reused = other.prepare(10);
    buffer.append("y");
    EXPECT_NE(reused, buffer.data());
  }
}

}  // namespace
}  // namespace trellis
