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
  Buffer first(&pool);
  first.append("x");
  const char* block = first.data();
  first.consume(1);
  first.shrinkIfEmpty();  // an idle connection gives its block back...
  Buffer second(&pool);
  second.append("y");
  EXPECT_EQ(second.data(), block);  // ...and the next buffer reuses it without allocating
}

}  // namespace
}  // namespace trellis
