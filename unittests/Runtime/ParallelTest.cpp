//===- ParallelTest.cpp - Tests for the CPU backend's parallel loops ------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Parallel.h"

#include "gtest/gtest.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

/// What a loop's task saw: how often each iteration ran, its ranges, the
/// threads it ran on.
struct Record {
  int64_t begin, step;
  std::vector<std::atomic<int>> runs;
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::set<std::thread::id> threads;

  Record(int64_t begin, int64_t end, int64_t step)
      : begin(begin), step(step),
        runs(end > begin ? (end - begin + step - 1) / step : 0) {}

  static void task(void *context, int64_t b, int64_t e) {
    auto *record = static_cast<Record *>(context);
    for (int64_t i = b; i < e; i += record->step)
      ++record->runs[(i - record->begin) / record->step];
    std::lock_guard<std::mutex> lock(record->mutex);
    record->ranges.push_back({b, e});
    record->threads.insert(std::this_thread::get_id());
  }
};

TEST(ParallelTest, EveryIterationRunsOnce) {
  for (auto [begin, end, step] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{0, 1024, 16},
                                                          {0, 1000, 16},
                                                          {5, 6, 1},
                                                          {3, 100, 7},
                                                          {0, 16, 16},
                                                          {-40, 40, 3}}) {
    Record record(begin, end, step);
    lowmem_parallel_for(&Record::task, &record, begin, end, step);
    for (size_t i = 0; i < record.runs.size(); ++i)
      EXPECT_EQ(record.runs[i].load(), 1)
          << "iteration " << begin + static_cast<int64_t>(i) * step << " of ["
          << begin << ", " << end << ") step " << step;
    // Each range starts on an iteration and stays inside the loop.
    for (auto [b, e] : record.ranges) {
      EXPECT_EQ((b - begin) % step, 0);
      EXPECT_GE(b, begin);
      EXPECT_LE(e, end);
      EXPECT_LT(b, e);
    }
  }
}

TEST(ParallelTest, EmptyLoopsRunNothing) {
  Record record(0, 0, 1);
  lowmem_parallel_for(&Record::task, &record, 0, 0, 1);
  lowmem_parallel_for(&Record::task, &record, 10, 5, 1);
  EXPECT_TRUE(record.ranges.empty());
}

TEST(ParallelTest, UsesThePoolAndAgainAndAgain) {
  // Many loops in a row reuse the same threads; with more than one thread,
  // a loop of many iterations runs on more than one.
  std::set<std::thread::id> seen;
  for (int repeat = 0; repeat < 500; ++repeat) {
    Record record(0, 4096, 16);
    lowmem_parallel_for(&Record::task, &record, 0, 4096, 16);
    for (auto &runs : record.runs)
      ASSERT_EQ(runs.load(), 1);
    seen.insert(record.threads.begin(), record.threads.end());
  }
  if (lowmem::rt::numThreads() > 1)
    EXPECT_GT(seen.size(), 1u);
  EXPECT_LE(static_cast<int64_t>(seen.size()), lowmem::rt::numThreads());
}

struct Nested {
  std::atomic<int> inner{0};
  std::set<std::thread::id> mismatched;
  std::mutex mutex;
};

void innerTask(void *context, int64_t b, int64_t e) {
  auto *pair = static_cast<std::pair<Nested *, std::thread::id> *>(context);
  if (std::this_thread::get_id() != pair->second) {
    std::lock_guard<std::mutex> lock(pair->first->mutex);
    pair->first->mismatched.insert(std::this_thread::get_id());
  }
  pair->first->inner += static_cast<int>(e - b);
}

void outerTask(void *context, int64_t b, int64_t e) {
  auto *nested = static_cast<Nested *>(context);
  for (int64_t i = b; i < e; ++i) {
    std::pair<Nested *, std::thread::id> inner{nested,
                                               std::this_thread::get_id()};
    lowmem_parallel_for(&innerTask, &inner, 0, 10, 1);
  }
}

TEST(ParallelTest, NestedLoopsRunOnTheirTasksThread) {
  Nested nested;
  lowmem_parallel_for(&outerTask, &nested, 0, 64, 1);
  EXPECT_EQ(nested.inner.load(), 640);
  EXPECT_TRUE(nested.mismatched.empty());
}

} // namespace
