//===- AdapterTest.cpp - PEFT LoRA adapters on disk -----------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Adapter.h"
#include "lowmem/Runtime/FileUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

using namespace lowmem::rt;

namespace {

std::string makeTempDir() {
  std::string templ = ::testing::TempDir() + "lowmem-adapter-XXXXXX";
  char *dir = ::mkdtemp(templ.data());
  EXPECT_NE(dir, nullptr);
  return templ;
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream(path) << text;
}

TEST(AdapterTest, WriteThenReadRoundTrips) {
  std::string dir = makeTempDir() + "/adapter";
  LoraConfig config;
  config.rank = 2;
  config.alpha = 16;
  config.rslora = true;
  config.dropout = 0.05;
  config.targets = {"model.0.model.0", "model.0.model.2"};
  std::vector<float> a{1, 2, 3, 4, 5, 6}, b{-1, 0.5f, 0, 2};
  std::vector<TensorToWrite> tensors{{"model.0.model.0.lora_A.weight",
                                      DType::F32,
                                      {2, 3},
                                      a.data(),
                                      a.size() * 4},
                                     {"model.0.model.0.lora_B.weight",
                                      DType::F32,
                                      {2, 2},
                                      b.data(),
                                      b.size() * 4}};
  ASSERT_EQ(writeAdapter(dir, config, tensors), "");

  LoraConfig read;
  ASSERT_EQ(readAdapterConfig(dir, read), "");
  EXPECT_EQ(read.rank, 2);
  EXPECT_EQ(read.alpha, 16);
  EXPECT_TRUE(read.rslora);
  EXPECT_DOUBLE_EQ(read.dropout, 0.05);
  EXPECT_EQ(read.targets, config.targets);
  EXPECT_EQ(checkAdapterConfig(dir, read, config), "");

  std::string err;
  auto file = SafetensorsFile::open(adapterWeightsPath(dir), err);
  ASSERT_TRUE(file) << err;
  // PEFT's names: the prefix is added on disk.
  const TensorView *ta =
      file->find("base_model.model.model.0.model.0.lora_A.weight");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(file->find("model.0.model.0.lora_A.weight"), nullptr);
}

TEST(AdapterTest, ReadsPeftsOwnConfig) {
  std::string dir = makeTempDir();
  // As PEFT 0.13 writes it (abridged), target_modules as one string.
  writeText(adapterConfigPath(dir),
            R"({"alpha_pattern": {}, "base_model_name_or_path": null,
                "bias": "none", "lora_alpha": 32, "lora_dropout": 0.1,
                "peft_type": "LORA", "r": 8, "rank_pattern": {},
                "target_modules": "q_proj", "task_type": "CAUSAL_LM",
                "use_dora": false, "use_rslora": false})");
  LoraConfig read;
  ASSERT_EQ(readAdapterConfig(dir, read), "");
  EXPECT_EQ(read.rank, 8);
  EXPECT_EQ(read.alpha, 32);
  EXPECT_FALSE(read.rslora);
  EXPECT_EQ(read.targets, std::vector<std::string>{"q_proj"});
}

TEST(AdapterTest, BadConfigsAreClearErrors) {
  std::string dir = makeTempDir();
  LoraConfig read;
  EXPECT_NE(readAdapterConfig(dir, read).find("adapter_config.json"),
            std::string::npos);
  struct Case {
    const char *json, *message;
  } cases[] = {
      {"{", "invalid JSON"},
      {"[]", "expected a JSON object"},
      {R"({"peft_type": "IA3", "r": 8, "lora_alpha": 8})",
       "peft_type is not \"LORA\""},
      {R"({"lora_alpha": 8})", "\"r\" must be a positive integer"},
      {R"({"r": 0, "lora_alpha": 8})", "\"r\" must be a positive integer"},
      {R"({"r": 4, "lora_alpha": -1})",
       "\"lora_alpha\" must be a positive number"},
      {R"({"r": 4, "lora_alpha": 8, "use_rslora": 1})",
       "\"use_rslora\" must be true or false"},
      {R"({"r": 4, "lora_alpha": 8, "target_modules": [1]})",
       "\"target_modules\" must hold strings"},
  };
  for (const Case &c : cases) {
    writeText(adapterConfigPath(dir), c.json);
    std::string problem = readAdapterConfig(dir, read);
    EXPECT_NE(problem.find(c.message), std::string::npos)
        << c.json << " -> " << problem;
  }
}

TEST(AdapterTest, MismatchedConfigsAreNamed) {
  LoraConfig model{4, 8, false, 0, {}};
  LoraConfig rank{2, 8, false, 0, {}}, alpha{4, 16, false, 0, {}},
      rs{4, 8, true, 0, {}};
  EXPECT_NE(checkAdapterConfig("d", rank, model)
                .find("d/adapter_config.json: the adapter has rank 2 but the "
                      "model was compiled with --lora-rank=4"),
            std::string::npos);
  EXPECT_NE(checkAdapterConfig("d", alpha, model).find("lora_alpha 16"),
            std::string::npos);
  EXPECT_NE(checkAdapterConfig("d", rs, model).find("uses rslora"),
            std::string::npos);
}

TEST(AdapterTest, WriteIntoAFileIsAnError) {
  std::string dir = makeTempDir();
  std::string file = dir + "/plain";
  writeText(file, "x");
  EXPECT_NE(writeAdapter(file, LoraConfig{1, 1, false, 0, {}}, {})
                .find("not a directory"),
            std::string::npos);
  EXPECT_NE(writeAdapter(dir + "/no/such", LoraConfig{1, 1, false, 0, {}}, {})
                .find("cannot create the directory"),
            std::string::npos);
}

TEST(AdapterTest, InitLoraAIsKaimingUniformAndDeterministic) {
  const int64_t rank = 8, in = 1024;
  std::vector<float> a(rank * in), again(rank * in), other(rank * in);
  initLoraA(a.data(), rank, in, 0, "l.lora_A.weight");
  initLoraA(again.data(), rank, in, 0, "l.lora_A.weight");
  initLoraA(other.data(), rank, in, 0, "m.lora_A.weight");
  EXPECT_EQ(a, again);
  EXPECT_NE(a, other);
  // U(-1/sqrt(in), 1/sqrt(in)): inside the bound, mean 0, variance
  // bound^2 / 3.
  double bound = 1.0 / std::sqrt(double(in)), sum = 0, sumSq = 0;
  for (float v : a) {
    EXPECT_LE(std::fabs(v), bound);
    sum += v;
    sumSq += double(v) * v;
  }
  double n = double(a.size()), mean = sum / n, var = sumSq / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 4 * bound / std::sqrt(3 * n));
  EXPECT_NEAR(var, bound * bound / 3, 0.05 * bound * bound / 3);
}

} // namespace
