//===- FileUtil.h - Atomic file writing -------------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Crash-safe file output: data goes to a temporary file in the destination
/// directory, is fsync'ed and renamed over the destination, and the directory
/// is fsync'ed. A writer killed at any point leaves either the old file or the
/// complete new one at the destination, never a partial file (a stray
/// `<path>.tmp.<pid>.<random>` file may remain after a kill). The new file
/// gets mode 0666 & ~umask; a replaced file's permissions are not kept.
/// POSIX only.
///
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_FILEUTIL_H
#define LOWMEM_RUNTIME_FILEUTIL_H

#include <cstddef>
#include <string>
#include <vector>

namespace lowmem::rt {

/// One contiguous piece of a file's contents.
struct FileChunk {
  const void *data;
  size_t size;
};

/// Atomically replaces (or creates) \p path with \p size bytes at \p data.
/// Returns "" on success, or "<path>: <what failed>: <errno text>"; on failure
/// the temporary file is removed and \p path is untouched (unless the final
/// directory fsync failed, in which case the new file is in place but may not
/// be durable).
std::string writeFileAtomic(const std::string &path, const void *data,
                            size_t size);

/// As above, with the contents given as consecutive chunks.
std::string writeFileAtomic(const std::string &path,
                            const std::vector<FileChunk> &chunks);

/// Reads the whole regular file \p path into \p out. Returns "" or
/// "<path>: <reason>".
std::string readFile(const std::string &path, std::vector<unsigned char> &out);

/// Returns the text of errno value \p err (thread-safe).
std::string errnoText(int err);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_FILEUTIL_H
