//===- CudaDriverTest.cpp - loading the CUDA driver -----------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// The driver is optional at build and link time; these tests check the
// messages a user sees when it is missing or is not a CUDA driver. They need
// no GPU.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/CudaDriver.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace lowmem::rt;
using namespace lowmem::rt::cuda;

TEST(CudaDriverTest, MissingLibraryIsAClearError) {
  DriverApi api{};
  std::string problem = openDriver("/nonexistent/libcuda.so.1", api);
  EXPECT_NE(problem.find("no CUDA driver: cannot load "
                         "'/nonexistent/libcuda.so.1'"),
            std::string::npos)
      << problem;
  EXPECT_NE(problem.find("needs an NVIDIA GPU"), std::string::npos) << problem;
}

TEST(CudaDriverTest, LibraryWithoutTheEntryPointsIsRejected) {
  DriverApi api{};
  std::string problem = openDriver("libm.so.6", api);
  EXPECT_NE(problem.find("the CUDA driver 'libm.so.6' lacks entry points: "
                         "cuInit, cuDriverGetVersion"),
            std::string::npos)
      << problem;
}

TEST(CudaDriverTest, InitWithoutDriverNamesTheLibrary) {
  // The override is read once, on the first load in this process.
  setenv("LOWMEM_CUDA_DRIVER", "/nonexistent/override.so", 1);
  std::string problem = initDevice(0);
  EXPECT_NE(problem.find("'/nonexistent/override.so'"), std::string::npos)
      << problem;
  const DriverApi *api = nullptr;
  EXPECT_FALSE(loadDriver(api).empty());
  EXPECT_EQ(api, nullptr);
  EXPECT_EQ(describeError("cuInit", 100), "cuInit failed with CUDA error 100");
}

//===----------------------------------------------------------------------===//
// Placement of buffers, against a driver table of fakes that record the
// calls and hand out host memory.
//===----------------------------------------------------------------------===//

namespace {

/// What the fake driver was asked, and what its device can do.
struct FakeDriver {
  std::vector<std::string> calls;
  int unifiedAddressing = 1, managedMemory = 1, hostPointers = 1;
  bool mappedElsewhere = false;
  CUresult allocResult = kSuccess;
  CUmemLocation prefetchLocation{0, -1};
  size_t prefetchBytes = 0;
  CUstream prefetchStream = nullptr;
  unsigned lastFlags = 0;
};
FakeDriver fake;

CUdeviceptr address(void *p) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
}

DriverApi fakeApi() {
  DriverApi d{};
  d.cuGetErrorString = [](CUresult, const char **text) -> CUresult {
    *text = "fake failure";
    return kSuccess;
  };
  d.cuDeviceGetAttribute = [](int *value, int which, CUdevice) -> CUresult {
    fake.calls.push_back("attribute " + std::to_string(which));
    *value = which == kAttrUnifiedAddressing ? fake.unifiedAddressing
             : which == kAttrManagedMemory   ? fake.managedMemory
             : which == kAttrCanMapHostMemory ||
                     which == kAttrCanUseHostPointerForRegisteredMem
                 ? fake.hostPointers
                 : 0;
    return kSuccess;
  };
  d.cuMemAlloc = [](CUdeviceptr *p, size_t bytes) -> CUresult {
    fake.calls.push_back("cuMemAlloc " + std::to_string(bytes));
    *p = fake.allocResult ? 0 : address(std::malloc(bytes));
    return fake.allocResult;
  };
  d.cuMemAllocManaged = [](CUdeviceptr *p, size_t bytes,
                           unsigned flags) -> CUresult {
    fake.calls.push_back("cuMemAllocManaged " + std::to_string(bytes));
    fake.lastFlags = flags;
    *p = fake.allocResult ? 0 : address(std::malloc(bytes));
    return fake.allocResult;
  };
  d.cuMemFree = [](CUdeviceptr p) -> CUresult {
    fake.calls.push_back("cuMemFree");
    std::free(reinterpret_cast<void *>(static_cast<uintptr_t>(p)));
    return kSuccess;
  };
  d.cuMemHostAlloc = [](void **p, size_t bytes, unsigned flags) -> CUresult {
    fake.calls.push_back("cuMemHostAlloc " + std::to_string(bytes));
    fake.lastFlags = flags;
    *p = fake.allocResult ? nullptr : std::malloc(bytes);
    return fake.allocResult;
  };
  d.cuMemHostGetDevicePointer = [](CUdeviceptr *dptr, void *p,
                                   unsigned) -> CUresult {
    fake.calls.push_back("cuMemHostGetDevicePointer");
    *dptr = address(p) + (fake.mappedElsewhere ? 4096 : 0);
    return kSuccess;
  };
  d.cuMemFreeHost = [](void *p) -> CUresult {
    fake.calls.push_back("cuMemFreeHost");
    std::free(p);
    return kSuccess;
  };
  d.cuMemPrefetchAsync = [](CUdeviceptr, size_t bytes, CUmemLocation location,
                            unsigned, CUstream stream) -> CUresult {
    fake.calls.push_back("cuMemPrefetchAsync");
    fake.prefetchLocation = location;
    fake.prefetchBytes = bytes;
    fake.prefetchStream = stream;
    return kSuccess;
  };
  return d;
}

} // namespace

TEST(CudaPlacementTest, EachPlacementUsesItsAllocator) {
  fake = FakeDriver();
  DriverApi d = fakeApi();
  void *p = nullptr;
  ASSERT_EQ(allocateAt(d, Placement::Device, 100, p), "");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(releaseAt(d, Placement::Device, p), "");
  // Managed memory, reachable from every stream.
  ASSERT_EQ(allocateAt(d, Placement::Paged, 200, p), "");
  EXPECT_EQ(fake.lastFlags, kMemAttachGlobal);
  EXPECT_EQ(releaseAt(d, Placement::Paged, p), "");
  // Page-locked, mapped into the device's address space.
  ASSERT_EQ(allocateAt(d, Placement::Host, 0, p), "");
  EXPECT_EQ(fake.lastFlags, kMemHostAllocPortable | kMemHostAllocDeviceMap);
  EXPECT_EQ(releaseAt(d, Placement::Host, p), "");
  std::vector<std::string> expected{
      "cuMemAlloc 100", "cuMemFree",        "cuMemAllocManaged 200",
      "cuMemFree",      "cuMemHostAlloc 1", "cuMemHostGetDevicePointer",
      "cuMemFreeHost"};
  EXPECT_EQ(fake.calls, expected);
}

TEST(CudaPlacementTest, HostMemoryMustKeepItsAddressOnTheDevice) {
  fake = FakeDriver();
  fake.mappedElsewhere = true;
  DriverApi d = fakeApi();
  void *p = reinterpret_cast<void *>(1);
  std::string problem = allocateAt(d, Placement::Host, 64, p);
  EXPECT_EQ(problem, "mapped host memory has another address on the device");
  EXPECT_EQ(p, nullptr);
  // The mapping that cannot be used is freed.
  EXPECT_EQ(fake.calls.back(), "cuMemFreeHost");
}

TEST(CudaPlacementTest, FailedAllocationNamesTheCall) {
  fake = FakeDriver();
  fake.allocResult = 2; // CUDA_ERROR_OUT_OF_MEMORY
  DriverApi d = fakeApi();
  void *p = nullptr;
  std::string problem = allocateAt(d, Placement::Paged, 64, p);
  EXPECT_NE(problem.find("cuMemAllocManaged failed with CUDA error 2"),
            std::string::npos)
      << problem;
  EXPECT_EQ(p, nullptr);
}

TEST(CudaPlacementTest, PlacementsTheDeviceCannotHoldAreRefused) {
  fake = FakeDriver();
  DriverApi d = fakeApi();
  EXPECT_EQ(checkPlacement(d, 0, Placement::Device), "");
  EXPECT_EQ(checkPlacement(d, 0, Placement::Paged), "");
  EXPECT_EQ(checkPlacement(d, 0, Placement::Host), "");
  fake.managedMemory = 0;
  EXPECT_EQ(checkPlacement(d, 0, Placement::Paged),
            "this GPU cannot allocate unified (managed) memory");
  // Host memory at its host address needs all three attributes.
  fake.hostPointers = 0;
  EXPECT_NE(checkPlacement(d, 0, Placement::Host).find("host address"),
            std::string::npos);
  fake.hostPointers = 1;
  fake.unifiedAddressing = 0;
  EXPECT_NE(checkPlacement(d, 0, Placement::Host).find("host address"),
            std::string::npos);
}

TEST(CudaPlacementTest, OlderDriversRunButRefusePagedState) {
  fake = FakeDriver();
  DriverApi d = fakeApi();
  d.cuMemPrefetchAsync = nullptr; // before CUDA 12.2
  EXPECT_EQ(checkPlacement(d, 0, Placement::Device), "");
  EXPECT_NE(
      checkPlacement(d, 0, Placement::Paged).find("cuMemPrefetchAsync_v2"),
      std::string::npos);
  d.cuMemHostAlloc = nullptr;
  EXPECT_NE(checkPlacement(d, 0, Placement::Host).find("cuMemHostAlloc"),
            std::string::npos);
}

TEST(CudaPlacementTest, PrefetchGoesToTheDeviceOnTheGivenStream) {
  fake = FakeDriver();
  DriverApi d = fakeApi();
  int buffer[4];
  auto *stream = reinterpret_cast<CUstream>(0x1234);
  EXPECT_EQ(prefetchTo(d, 3, buffer, sizeof(buffer), stream), "");
  EXPECT_EQ(fake.prefetchLocation.type, kMemLocationTypeDevice);
  EXPECT_EQ(fake.prefetchLocation.id, 3);
  EXPECT_EQ(fake.prefetchBytes, sizeof(buffer));
  EXPECT_EQ(fake.prefetchStream, stream);
}

TEST(CudaPlacementTest, PlacementNamesRoundTrip) {
  for (Placement p : {Placement::Device, Placement::Paged, Placement::Host})
    EXPECT_EQ(parsePlacement(placementName(p)), p);
  EXPECT_EQ(parsePlacement("disk"), std::nullopt);
}
