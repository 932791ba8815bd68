//===- Parallel.cpp - the CPU backend's parallel loops
//----------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Parallel.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace lowmem::rt {

int64_t numThreads() {
  static const int64_t threads = [] {
    if (const char *env = std::getenv("LOWMEM_NUM_THREADS")) {
      char *end = nullptr;
      long long n = std::strtoll(env, &end, 10);
      if (end != env && *end == '\0' && n > 0)
        return static_cast<int64_t>(std::min<long long>(n, 1024));
    }
    return static_cast<int64_t>(
        std::max(1u, std::thread::hardware_concurrency()));
  }();
  return threads;
}

namespace {

thread_local bool insideTask = false;

/// Workers that wait for a loop, each running its range of every loop.
class Pool {
public:
  explicit Pool(int64_t workers) {
    for (int64_t i = 0; i < workers; ++i) {
      try {
        threads.emplace_back([this, i] { work(i + 1); });
      } catch (const std::system_error &) {
        break; // fewer workers: the ranges are split among those started
      }
    }
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    for (std::thread &thread : threads)
      thread.join();
  }

  /// Runs `task` over the iterations' ranges: range 0 on the caller,
  /// range i on worker i.
  void run(void (*task)(void *, int64_t, int64_t), void *context, int64_t begin,
           int64_t end, int64_t step) {
    std::lock_guard<std::mutex> serial(calls);
    int64_t iterations = (end - begin + step - 1) / step;
    int64_t parts = std::min<int64_t>(threads.size() + 1, iterations);
    {
      std::lock_guard<std::mutex> lock(mutex);
      job = {task, context, begin, end, step, (iterations + parts - 1) / parts,
             parts};
      pending = parts - 1;
      ++generation;
    }
    wake.notify_all();
    runRange(0);
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
  }

private:
  struct Job {
    void (*task)(void *, int64_t, int64_t) = nullptr;
    void *context = nullptr;
    int64_t begin = 0, end = 0, step = 1, perPart = 0, parts = 0;
  };

  void runRange(int64_t part) {
    int64_t first = job.begin + part * job.perPart * job.step;
    int64_t last = std::min(job.end, first + job.perPart * job.step);
    if (first < last) {
      insideTask = true;
      job.task(job.context, first, last);
      insideTask = false;
    }
  }

  void work(int64_t part) {
    uint64_t seen = 0;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || generation != seen; });
        if (stopping)
          return;
        seen = generation;
        if (part >= job.parts)
          continue;
      }
      runRange(part);
      std::lock_guard<std::mutex> lock(mutex);
      if (--pending == 0)
        done.notify_one();
    }
  }

  std::vector<std::thread> threads;
  std::mutex calls; // one loop at a time
  std::mutex mutex;
  std::condition_variable wake, done;
  Job job;
  uint64_t generation = 0;
  int64_t pending = 0;
  bool stopping = false;
};

} // namespace
} // namespace lowmem::rt

extern "C" void lowmem_parallel_for(void (*task)(void *, int64_t, int64_t),
                                    void *context, int64_t begin, int64_t end,
                                    int64_t step) {
  using namespace lowmem::rt;
  if (end <= begin || step <= 0)
    return;
  if (insideTask || numThreads() == 1 || end - begin <= step) {
    task(context, begin, end);
    return;
  }
  static Pool pool(numThreads() - 1);
  pool.run(task, context, begin, end, step);
}
