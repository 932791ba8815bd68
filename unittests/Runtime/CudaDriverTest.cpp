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
