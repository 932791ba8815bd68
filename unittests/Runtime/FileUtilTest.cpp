//===- FileUtilTest.cpp - Tests for atomic file writing -------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/FileUtil.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace lowmem::rt;

namespace {

/// A fresh temporary directory, removed (with its files) at the end.
class TempDir {
public:
  TempDir() {
    char pattern[] = "/tmp/lowmem-fileutil-XXXXXX";
    const char *p = ::mkdtemp(pattern);
    EXPECT_NE(p, nullptr);
    path = p ? p : "/tmp";
  }
  ~TempDir() {
    for (const std::string &name : list())
      ::unlink((path + "/" + name).c_str());
    ::rmdir(path.c_str());
  }
  std::vector<std::string> list() const {
    std::vector<std::string> names;
    if (DIR *d = ::opendir(path.c_str())) {
      while (dirent *e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..")
          names.push_back(name);
      }
      ::closedir(d);
    }
    return names;
  }
  std::string path;
};

std::string readAll(const std::string &path) {
  std::vector<unsigned char> bytes;
  std::string err = readFile(path, bytes);
  EXPECT_EQ(err, "");
  return std::string(bytes.begin(), bytes.end());
}

TEST(FileUtilTest, WritesAndLeavesNoTempFile) {
  TempDir dir;
  std::string path = dir.path + "/out.bin";
  std::string data = "hello, world";
  EXPECT_EQ(writeFileAtomic(path, data.data(), data.size()), "");
  EXPECT_EQ(readAll(path), data);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"out.bin"});
}

TEST(FileUtilTest, RemovesTemporariesOfDeadWriters) {
  TempDir dir;
  std::string path = dir.path + "/out.bin";
  auto touch = [&](const std::string &name) {
    FILE *f = std::fopen((dir.path + "/" + name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  };
  // A writer that no longer exists (pid beyond pid_max), this process (a
  // write may be in flight), another file's temporary and an unrelated name.
  touch("out.bin.tmp.2147483600.0123456789abcdef");
  std::string mine =
      "out.bin.tmp." + std::to_string(::getpid()) + ".0123456789abcdef";
  touch(mine);
  touch("other.bin.tmp.2147483600.0123456789abcdef");
  touch("out.bin.tmp.notes");
  EXPECT_EQ(writeFileAtomic(path, "x", 1), "");
  std::vector<std::string> left = dir.list();
  std::sort(left.begin(), left.end());
  std::vector<std::string> want{"other.bin.tmp.2147483600.0123456789abcdef",
                                "out.bin", mine, "out.bin.tmp.notes"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(left, want);
}

TEST(FileUtilTest, ReplacesExistingFile) {
  TempDir dir;
  std::string path = dir.path + "/out.bin";
  EXPECT_EQ(writeFileAtomic(path, "a long original content", 23), "");
  EXPECT_EQ(writeFileAtomic(path, "new", 3), "");
  EXPECT_EQ(readAll(path), "new");
  EXPECT_EQ(dir.list().size(), 1u);
}

TEST(FileUtilTest, Chunks) {
  TempDir dir;
  std::string path = dir.path + "/chunks.bin";
  std::vector<char> big(3 << 20, 'x');
  big.back() = 'y';
  std::vector<FileChunk> chunks = {
      {"ab", 2}, {nullptr, 0}, {big.data(), big.size()}, {"cd", 2}};
  EXPECT_EQ(writeFileAtomic(path, chunks), "");
  std::string content = readAll(path);
  ASSERT_EQ(content.size(), big.size() + 4);
  EXPECT_EQ(content.substr(0, 3), "abx");
  EXPECT_EQ(content.substr(content.size() - 3), "ycd");
  EXPECT_EQ(dir.list().size(), 1u);
}

TEST(FileUtilTest, EmptyFile) {
  TempDir dir;
  std::string path = dir.path + "/empty";
  EXPECT_EQ(writeFileAtomic(path, nullptr, 0), "");
  EXPECT_EQ(readAll(path), "");
}

TEST(FileUtilTest, RelativePath) {
  TempDir dir;
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(::chdir(dir.path.c_str()), 0);
  std::string err = writeFileAtomic("rel.txt", "x", 1);
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(err, "");
  EXPECT_EQ(readAll(dir.path + "/rel.txt"), "x");
}

TEST(FileUtilTest, MissingDirectory) {
  TempDir dir;
  std::string path = dir.path + "/no/such/dir/out.bin";
  std::string err = writeFileAtomic(path, "x", 1);
  EXPECT_EQ(
      err.rfind(path + ": cannot create temporary file '" + path + ".tmp.", 0),
      0u)
      << err;
  EXPECT_NE(err.find("No such file or directory"), std::string::npos) << err;
  EXPECT_TRUE(dir.list().empty());
}

TEST(FileUtilTest, RenameFailureRemovesTempFile) {
  TempDir dir;
  // Renaming a file over a non-empty directory fails after the temp file was
  // written: it must be cleaned up.
  std::string path = dir.path + "/target";
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  std::string inner = path + "/keep";
  ASSERT_EQ(writeFileAtomic(inner, "k", 1), "");
  std::string err = writeFileAtomic(path, "x", 1);
  EXPECT_NE(err.find(path + ": cannot rename temporary file '"),
            std::string::npos)
      << err;
  EXPECT_EQ(dir.list(), std::vector<std::string>{"target"});
  ::unlink(inner.c_str());
  ::rmdir(path.c_str());
}

TEST(FileUtilTest, EmptyPath) {
  EXPECT_EQ(writeFileAtomic("", "x", 1),
            "<empty path>: cannot write a file with an empty name");
}

TEST(FileUtilTest, NullChunk) {
  TempDir dir;
  std::string path = dir.path + "/f";
  EXPECT_EQ(writeFileAtomic(path, nullptr, 5),
            path + ": internal error: null data for a non-empty chunk");
  EXPECT_TRUE(dir.list().empty());
}

TEST(FileUtilTest, ReadFileErrors) {
  std::vector<unsigned char> bytes;
  EXPECT_EQ(readFile("/nonexistent/lowmem/file", bytes),
            "/nonexistent/lowmem/file: cannot open: No such file or directory");
  EXPECT_EQ(readFile("/tmp", bytes), "/tmp: not a regular file");
}

} // namespace
