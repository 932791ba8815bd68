//===- Parallel.h - the CPU backend's parallel loops ------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// The entry compiled CPU code calls for a loop whose iterations are
// independent (lowmem-cpu-threads outlines such a loop into a task): the
// iterations are split into contiguous ranges, one per thread of a pool
// that lives as long as the process. The calling thread takes the first
// range and returns once every range has run.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_PARALLEL_H
#define LOWMEM_RUNTIME_PARALLEL_H

#include <cstdint>

namespace lowmem::rt {

/// Threads a parallel loop runs on: LOWMEM_NUM_THREADS if set (a positive
/// number), else one per core the process may use.
int64_t numThreads();

} // namespace lowmem::rt

extern "C" {
/// Runs `task(context, b, e)` on ranges [b, e) that cover the iterations
/// begin, begin + step, ... < end, each range a whole number of steps, and
/// returns when all have run. A call from inside a task runs on the calling
/// thread alone.
void lowmem_parallel_for(void (*task)(void *, int64_t, int64_t), void *context,
                         int64_t begin, int64_t end, int64_t step);
}

#endif // LOWMEM_RUNTIME_PARALLEL_H
