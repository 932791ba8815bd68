//===- MemoryTest.cpp - Tests for allocation accounting -------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Memory.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

using namespace lowmem::rt;

namespace {

TEST(MemoryTest, CategoryNames) {
  EXPECT_STREQ(memCategoryName(MemCategory::Weights), "weights");
  EXPECT_STREQ(memCategoryName(MemCategory::Inputs), "inputs");
  EXPECT_STREQ(memCategoryName(MemCategory::Outputs), "outputs");
  EXPECT_STREQ(memCategoryName(MemCategory::Activations), "activations");
  EXPECT_STREQ(memCategoryName(MemCategory::Workspace), "workspace");
  EXPECT_STREQ(memCategoryName(MemCategory::Trainable), "trainable");
  EXPECT_STREQ(memCategoryName(MemCategory::OptimizerState), "optimizer state");
  EXPECT_STREQ(memCategoryName(MemCategory::KvCache), "kv cache");
  EXPECT_STREQ(memCategoryName(MemCategory::Count), "invalid");
}

TEST(MemoryTest, CurrentAndPeak) {
  MemoryTracker t;
  void *w = t.allocate(1000, MemCategory::Weights);
  ASSERT_NE(w, nullptr);
  std::memset(w, 1, 1000);
  void *a = t.allocate(300, MemCategory::Activations);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(t.current(MemCategory::Weights), 1000u);
  EXPECT_EQ(t.current(MemCategory::Activations), 300u);
  EXPECT_EQ(t.current(MemCategory::Inputs), 0u);
  EXPECT_EQ(t.currentTotal(), 1300u);
  EXPECT_EQ(t.peakTotal(), 1300u);

  t.release(a);
  EXPECT_EQ(t.current(MemCategory::Activations), 0u);
  EXPECT_EQ(t.peak(MemCategory::Activations), 300u);
  EXPECT_EQ(t.currentTotal(), 1000u);
  EXPECT_EQ(t.peakTotal(), 1300u);

  // The total peak is the high-water mark of the sum, not the sum of peaks.
  void *o = t.allocate(200, MemCategory::Outputs);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(t.peakTotal(), 1300u);
  EXPECT_EQ(t.peak(MemCategory::Outputs), 200u);
  void *s = t.allocate(150, MemCategory::Workspace);
  EXPECT_EQ(t.peakTotal(), 1350u);

  t.resetPeaks();
  EXPECT_EQ(t.peakTotal(), 1350u);
  EXPECT_EQ(t.peak(MemCategory::Activations), 0u);
  EXPECT_EQ(t.peak(MemCategory::Weights), 1000u);
  t.release(s);
  t.release(o);
  t.release(w);
  EXPECT_EQ(t.currentTotal(), 0u);
  EXPECT_EQ(t.peakTotal(), 1350u);
  t.resetPeaks();
  EXPECT_EQ(t.peakTotal(), 0u);
}

TEST(MemoryTest, Alignment) {
  MemoryTracker t;
  for (size_t align : {1, 2, 8, 16, 64, 256, 4096}) {
    void *p = t.allocate(10, MemCategory::Workspace, align);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align;
    t.release(p);
  }
  void *d = t.allocate(3, MemCategory::Workspace);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 64, 0u);
  t.release(d);
}

TEST(MemoryTest, Failures) {
  MemoryTracker t;
  EXPECT_EQ(t.allocate(16, MemCategory::Weights, 3), nullptr);
  EXPECT_EQ(t.allocate(16, MemCategory::Weights, 0), nullptr);
  EXPECT_EQ(t.allocate(16, MemCategory::Count), nullptr);
  EXPECT_EQ(t.allocate(SIZE_MAX - 4096, MemCategory::Weights), nullptr);
  EXPECT_EQ(t.currentTotal(), 0u);
  EXPECT_EQ(t.peakTotal(), 0u);
  EXPECT_EQ(t.current(MemCategory::Count), 0u);
  EXPECT_EQ(t.peak(MemCategory::Count), 0u);
  t.release(nullptr); // A no-op.
}

TEST(MemoryTest, ZeroBytes) {
  MemoryTracker t;
  void *a = t.allocate(0, MemCategory::Inputs);
  void *b = t.allocate(0, MemCategory::Inputs);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.currentTotal(), 0u);
  t.release(a);
  t.release(b);
}

TEST(MemoryTest, DestructorFreesOutstanding) {
  // Leak checkers (ASan) would flag this if the destructor did not free.
  MemoryTracker t;
  ASSERT_NE(t.allocate(128, MemCategory::Activations), nullptr);
}

// A provider that hands out slots of a fixed pool and records what it was
// asked, standing in for device memory.
struct PoolProvider {
  alignas(256) static inline unsigned char pool[4][512];
  static inline bool used[4];
  static inline std::vector<size_t> requests;
  static inline int releases = 0;
  static void *allocate(size_t bytes, size_t align) {
    requests.push_back(bytes);
    if (bytes > sizeof(pool[0]) || align > 256)
      return nullptr;
    for (int i = 0; i < 4; ++i)
      if (!used[i]) {
        used[i] = true;
        return pool[i];
      }
    return nullptr;
  }
  static void release(void *p) {
    ++releases;
    for (int i = 0; i < 4; ++i)
      if (p == pool[i])
        used[i] = false;
  }
};

TEST(MemoryTest, CustomProvider) {
  PoolProvider::requests.clear();
  PoolProvider::releases = 0;
  {
    MemoryTracker t(
        MemoryProvider{PoolProvider::allocate, PoolProvider::release});
    void *a = t.allocate(100, MemCategory::Weights);
    void *z = t.allocate(0, MemCategory::Inputs);
    EXPECT_EQ(a, PoolProvider::pool[0]);
    EXPECT_EQ(z, PoolProvider::pool[1]);
    // A zero-byte request asks the provider for one byte, accounted as 0.
    EXPECT_EQ(PoolProvider::requests, (std::vector<size_t>{100, 1}));
    EXPECT_EQ(t.currentTotal(), 100u);
    // The provider's failure is the tracker's: nothing is accounted.
    EXPECT_EQ(t.allocate(4096, MemCategory::Weights), nullptr);
    EXPECT_EQ(t.currentTotal(), 100u);
    t.release(a);
    EXPECT_EQ(PoolProvider::releases, 1);
    EXPECT_EQ(t.peakTotal(), 100u);
  }
  // The destructor returns what is still held to the provider.
  EXPECT_EQ(PoolProvider::releases, 2);
  EXPECT_FALSE(PoolProvider::used[0] || PoolProvider::used[1]);
}

TEST(MemoryTest, Global) {
  MemoryTracker &g = MemoryTracker::global();
  EXPECT_EQ(&g, &MemoryTracker::global());
  size_t before = g.current(MemCategory::Inputs);
  void *p = g.allocate(64, MemCategory::Inputs);
  EXPECT_EQ(g.current(MemCategory::Inputs), before + 64);
  g.release(p);
  EXPECT_EQ(g.current(MemCategory::Inputs), before);
}

TEST(MemoryTest, ThreadSafe) {
  MemoryTracker t;
  constexpr int kThreads = 8, kIterations = 2000;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&t, i] {
      auto category = static_cast<MemCategory>(i % 5);
      for (int j = 0; j < kIterations; ++j) {
        void *p = t.allocate(100, category);
        void *q = t.allocate(28, category, 16);
        if (p)
          t.release(p);
        if (q)
          t.release(q);
      }
    });
  }
  for (std::thread &th : threads)
    th.join();
  EXPECT_EQ(t.currentTotal(), 0u);
  EXPECT_GE(t.peakTotal(), 128u);
  EXPECT_LE(t.peakTotal(), 128u * kThreads);
}

TEST(MemoryDeathTest, ReleaseUnknownPointerAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MemoryTracker t;
  int x = 0;
  EXPECT_DEATH(t.release(&x), "pointer was not allocated by this tracker");
  void *p = t.allocate(8, MemCategory::Weights);
  t.release(p);
  EXPECT_DEATH(t.release(p), "or was already released");
}

} // namespace
