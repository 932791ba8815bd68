//===- PlanTest.cpp - Tests for planning a manifest at given sizes --------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Plan.h"
#include "lowmem/Runtime/Json.h"

#include "gtest/gtest.h"

using namespace lowmem::rt;

namespace {

/// A training step's manifest: ids [batch, seq] (i64), a frozen f32 weight
/// [4, 8], a trainable [8] with its state, the arena and the host arena.
/// The arena is 64 + 256 per token, 64 of it gradients; the host arena 512
/// per token.
constexpr const char *kManifest = R"({
  "args": [
    {"kind": "input", "name": "input_ids", "dtype": "I64", "shape": [-1, -1]},
    {"kind": "param", "name": "w", "dtype": "F32", "shape": [4, 8],
     "trainable": false},
    {"kind": "param", "name": "a", "dtype": "F32", "shape": [8],
     "trainable": true},
    {"kind": "state", "name": "a.m", "dtype": "F32", "shape": [8]},
    {"kind": "arena", "dtype": "I8", "shape": [-1]},
    {"kind": "host_arena", "dtype": "I8", "shape": [-1]}
  ],
  "arena_size": [{"coeff": 64, "dims": []},
                 {"coeff": 256, "dims": [[0, 0], [0, 1]]}],
  "arena_gradients_size": [{"coeff": 64, "dims": []}],
  "heap_size": [],
  "host_arena_size": [{"coeff": 512, "dims": [[0, 0], [0, 1]]}]
})";

JsonValue manifestOf(const char *text) {
  JsonValue manifest;
  EXPECT_EQ(parseJson(text, manifest), "");
  return manifest;
}

TEST(PlanTest, SplitsThePeakAndLeavesTheHostArenaOut) {
  JsonValue manifest = manifestOf(kManifest);
  MemoryPlan plan;
  ASSERT_EQ(planMemory(manifest, {2, 10}, plan), "");
  EXPECT_EQ(plan.inputs, 2 * 10 * 8);
  EXPECT_EQ(plan.frozen, 4 * 8 * 4);
  EXPECT_EQ(plan.trainable, 8 * 4);
  EXPECT_EQ(plan.state, 8 * 4);
  EXPECT_EQ(plan.gradients, 64);
  EXPECT_EQ(plan.activations, 256 * 20);
  EXPECT_EQ(plan.offloaded, 512 * 20);
  EXPECT_EQ(plan.total(), 160 + 128 + 32 + 32 + 64 + 256 * 20);
}

TEST(PlanTest, ManifestsWithoutAHostArenaOffloadNothing) {
  std::string text = kManifest;
  text.erase(text.find(",\n  \"host_arena_size\""),
             std::string(",\n  \"host_arena_size\": [{\"coeff\": 512, "
                         "\"dims\": [[0, 0], [0, 1]]}]")
                 .size());
  JsonValue manifest = manifestOf(text.c_str());
  MemoryPlan plan;
  ASSERT_EQ(planMemory(manifest, {1, 3}, plan), "");
  EXPECT_EQ(plan.offloaded, 0);
  EXPECT_EQ(plan.activations, 256 * 3);
}

TEST(PlanTest, TooFewSizesAreNamed) {
  JsonValue manifest = manifestOf(kManifest);
  MemoryPlan plan;
  EXPECT_EQ(planMemory(manifest, {2}, plan),
            "input 'input_ids' has more dynamic dimensions than the 1 sizes "
            "given");
}

TEST(PlanTest, ATermNamingNoDimensionIsCorrupt) {
  std::string text = kManifest;
  size_t at = text.rfind("[[0, 0], [0, 1]]");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 16, "[[0, 0], [9, 1]]");
  JsonValue manifest = manifestOf(text.c_str());
  MemoryPlan plan;
  EXPECT_EQ(planMemory(manifest, {2, 10}, plan),
            "corrupt manifest: a size term names no argument dimension");
}

/// A generation step's manifest: ids [batch, seq], its position (a
/// scalar), the rows' starts [batch], a frozen weight, two f16 caches
/// [batch, capacity, 16] and an arena of 128 bytes per token; the results
/// (next ids and logits) 4008 bytes per row.
constexpr const char *kGenerateManifest = R"({
  "args": [
    {"kind": "input", "name": "input_ids", "dtype": "I64", "shape": [-1, -1]},
    {"kind": "param", "name": "w", "dtype": "F32", "shape": [4, 8],
     "trainable": false},
    {"kind": "position", "dtype": "I64", "shape": []},
    {"kind": "row_starts", "dtype": "I64", "shape": [-1]},
    {"kind": "cache", "name": "cache.0.key", "dtype": "F16",
     "shape": [-1, -1, 16]},
    {"kind": "cache", "name": "cache.0.value", "dtype": "F16",
     "shape": [-1, -1, 16]},
    {"kind": "arena", "dtype": "I8", "shape": [-1]}
  ],
  "arena_size": [{"coeff": 128, "dims": [[0, 0], [0, 1]]}],
  "heap_size": [{"coeff": 4008, "dims": [[0, 0]]}]
})";

TEST(PlanTest, GenerationCachesTakeTheBatchAndTheCapacity) {
  JsonValue manifest = manifestOf(kGenerateManifest);
  MemoryPlan plan;
  ASSERT_EQ(planMemory(manifest, {3, 7, 50}, plan), "");
  EXPECT_EQ(plan.inputs, 3 * 7 * 8 + 3 * 8);
  EXPECT_EQ(plan.frozen, 4 * 8 * 4);
  EXPECT_EQ(plan.cache, 2 * 3 * 50 * 16 * 2);
  EXPECT_EQ(plan.activations, 128 * 21);
  EXPECT_EQ(plan.heap, 4008 * 3);
  EXPECT_EQ(plan.total(), 168 + 24 + 128 + 9600 + 128 * 21 + 4008 * 3);
  // A decode step at the same capacity: only the step's tokens shrink.
  ASSERT_EQ(planMemory(manifest, {3, 1, 50}, plan), "");
  EXPECT_EQ(plan.cache, 2 * 3 * 50 * 16 * 2);
  EXPECT_EQ(plan.activations, 128 * 3);
}

TEST(PlanTest, GenerationPlansNeedTheCapacity) {
  JsonValue manifest = manifestOf(kGenerateManifest);
  MemoryPlan plan;
  EXPECT_EQ(planMemory(manifest, {3, 7}, plan),
            "a generation step is planned at BxSxT (batch, tokens a step, KV "
            "cache capacity), got 2 sizes");
}

} // namespace
