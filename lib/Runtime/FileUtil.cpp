//===- FileUtil.cpp - Atomic file writing ---------------------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/FileUtil.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <new>
#include <signal.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace lowmem::rt {

std::string errnoText(int err) { return std::generic_category().message(err); }

namespace {

/// Returns a hard-to-guess 64-bit value for temporary file names.
uint64_t randomSuffix() {
  static std::atomic<uint64_t> counter{0};
  uint64_t value = 0;
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, &value, sizeof(value));
    ::close(fd);
    if (n != static_cast<ssize_t>(sizeof(value)))
      value = 0;
  }
  // Mix in time and a counter so names differ even without /dev/urandom.
  uint64_t t = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  value ^= t * 0x9E3779B97F4A7C15ull;
  value ^= (counter.fetch_add(1) + 1) * 0xBF58476D1CE4E5B9ull;
  return value;
}

std::string directoryOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

/// Removes the temporary files `<name>.tmp.<pid>.<16 hex>` that a writer of
/// `path` killed mid-write left beside it: those whose process no longer
/// exists. Files of a live process, and every other name, are left alone.
void removeStaleTemporaries(const std::string &path) {
  std::string dir = directoryOf(path);
  size_t slash = path.find_last_of('/');
  std::string prefix =
      (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return;
  while (struct dirent *entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    std::string rest = name.substr(prefix.size());
    size_t dot = rest.find('.');
    if (dot == std::string::npos || dot == 0 || rest.size() - dot - 1 != 16 ||
        rest.find_first_not_of("0123456789") < dot ||
        rest.find_first_not_of("0123456789abcdef", dot + 1) !=
            std::string::npos)
      continue;
    long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
    if (pid <= 0 || pid == static_cast<long>(::getpid()))
      continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

std::string failure(const std::string &path, const std::string &what, int err) {
  return path + ": " + what + ": " + errnoText(err);
}

/// Writes all of [data, data+size) to fd, retrying on EINTR and short writes.
bool writeAll(int fd, const void *data, size_t size, int &err) {
  const auto *p = static_cast<const unsigned char *>(data);
  while (size > 0) {
    // Some kernels reject single writes above ~2 GiB; write in pieces.
    size_t piece = size < (size_t(1) << 30) ? size : (size_t(1) << 30);
    ssize_t n = ::write(fd, p, piece);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      err = errno;
      return false;
    }
    if (n == 0) {
      err = EIO;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

} // namespace

std::string writeFileAtomic(const std::string &path, const void *data,
                            size_t size) {
  return writeFileAtomic(path, std::vector<FileChunk>{FileChunk{data, size}});
}

std::string writeFileAtomic(const std::string &path,
                            const std::vector<FileChunk> &chunks) {
  if (path.empty())
    return "<empty path>: cannot write a file with an empty name";
  for (const FileChunk &chunk : chunks)
    if (chunk.size > 0 && !chunk.data)
      return path + ": internal error: null data for a non-empty chunk";

  removeStaleTemporaries(path);
  std::string tmpPath;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    char suffix[64];
    std::snprintf(suffix, sizeof(suffix), ".tmp.%ld.%016llx",
                  static_cast<long>(::getpid()),
                  static_cast<unsigned long long>(randomSuffix()));
    tmpPath = path + suffix;
    do {
      fd = ::open(tmpPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  0666);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno != EEXIST)
      return failure(path, "cannot create temporary file '" + tmpPath + "'",
                     errno);
  }
  if (fd < 0)
    return failure(path, "cannot create a unique temporary file", EEXIST);

  auto fail = [&](const std::string &what, int err) {
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmpPath.c_str());
    return failure(path, what, err);
  };

  int err = 0;
  for (const FileChunk &chunk : chunks)
    if (!writeAll(fd, chunk.data, chunk.size, err))
      return fail("cannot write temporary file '" + tmpPath + "'", err);
  if (::fsync(fd) != 0)
    return fail("cannot fsync temporary file '" + tmpPath + "'", errno);
  int closeResult = ::close(fd);
  fd = -1;
  if (closeResult != 0)
    return fail("cannot close temporary file '" + tmpPath + "'", errno);
  if (::rename(tmpPath.c_str(), path.c_str()) != 0)
    return fail("cannot rename temporary file '" + tmpPath + "' over it",
                errno);

  std::string dir = directoryOf(path);
  int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0)
    return failure(path, "cannot open directory '" + dir + "' to fsync it",
                   errno);
  int syncResult = ::fsync(dirFd);
  int syncErr = errno;
  ::close(dirFd);
  // Some file systems cannot fsync directories; that is not a write failure.
  if (syncResult != 0 && syncErr != EINVAL && syncErr != ENOTSUP &&
      syncErr != EROFS)
    return failure(path, "cannot fsync directory '" + dir + "'", syncErr);
  return "";
}

std::string readFile(const std::string &path, std::vector<unsigned char> &out) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return failure(path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return failure(path, "cannot stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return path + ": not a regular file";
  }
  std::vector<unsigned char> data;
  try {
    if (st.st_size > 0 &&
        static_cast<uint64_t>(st.st_size) < static_cast<uint64_t>(SIZE_MAX / 2))
      data.reserve(static_cast<size_t>(st.st_size));
    unsigned char buf[1 << 16];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR)
          continue;
        int err = errno;
        ::close(fd);
        return failure(path, "cannot read", err);
      }
      if (n == 0)
        break;
      data.insert(data.end(), buf, buf + n);
    }
  } catch (const std::bad_alloc &) {
    ::close(fd);
    return path + ": out of memory reading the file";
  }
  ::close(fd);
  out = std::move(data);
  return "";
}

} // namespace lowmem::rt
