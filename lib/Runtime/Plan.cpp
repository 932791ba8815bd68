//===- Plan.cpp - a compiled model's memory plan at given sizes -----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Plan.h"

#include "lowmem/Runtime/DType.h"

using namespace lowmem::rt;

namespace {

std::string text(const JsonValue &obj, const char *key) {
  const JsonValue *v = obj.get(key);
  return v && v->isString() ? v->getString() : std::string();
}

/// Sum of [{coeff, dims: [[arg, dim], ...], align?}, ...] at `shapes`.
bool evaluate(const JsonValue *terms,
              const std::vector<std::vector<int64_t>> &shapes, int64_t &out) {
  out = 0;
  if (!terms || !terms->isArray())
    return true;
  for (const JsonValue &term : terms->getArray()) {
    const JsonValue *coeff = term.get("coeff");
    const JsonValue *dims = term.get("dims");
    if (!coeff || !dims || !dims->isArray())
      return false;
    int64_t value = coeff->getInt64().value_or(0);
    for (const JsonValue &sym : dims->getArray()) {
      if (!sym.isArray() || sym.getArray().size() != 2)
        return false;
      int64_t arg = sym.getArray()[0].getInt64().value_or(-1);
      int64_t dim = sym.getArray()[1].getInt64().value_or(-1);
      if (arg < 0 || size_t(arg) >= shapes.size() || dim < 0 ||
          size_t(dim) >= shapes[arg].size())
        return false;
      value *= shapes[arg][dim];
    }
    if (const JsonValue *align = term.get("align"))
      if (int64_t a = align->getInt64().value_or(1); a > 1)
        value = (value + a - 1) / a * a;
    out += value;
  }
  return true;
}

} // namespace

std::string lowmem::rt::planMemory(const JsonValue &manifest,
                                   const std::vector<int64_t> &sizes,
                                   MemoryPlan &out) {
  out = MemoryPlan();
  const JsonValue *args = manifest.get("args");
  if (!args || !args->isArray())
    return "corrupt manifest: no arguments";
  std::vector<std::vector<int64_t>> shapes;
  for (const JsonValue &record : args->getArray()) {
    std::vector<int64_t> shape;
    const JsonValue *dims = record.get("shape");
    if (!dims || !dims->isArray())
      return "corrupt manifest: an argument without a shape";
    std::string kind = text(record, "kind");
    size_t next = 0;
    for (const JsonValue &d : dims->getArray()) {
      int64_t size = d.getInt64().value_or(0);
      if (size < 0 && kind == "input") {
        if (next >= sizes.size())
          return "input '" + text(record, "name") + "' has more dynamic " +
                 "dimensions than the " + std::to_string(sizes.size()) +
                 " sizes given";
        size = sizes[next++];
      } else if (size < 0 && kind == "row_starts") {
        size = sizes.empty() ? 0 : sizes[0]; // one a batch row
      } else if (size < 0 && kind == "cache") {
        // [batch, capacity, features]: the batch is the ids', the capacity
        // the size after theirs.
        if (sizes.size() < 3)
          return "a generation step is planned at BxSxT (batch, tokens a "
                 "step, KV cache capacity), got " +
                 std::to_string(sizes.size()) + " sizes";
        size = next++ == 0 ? sizes[0] : sizes[2];
      }
      shape.push_back(size);
    }
    shapes.push_back(shape);
    if (kind == "arena" || kind == "host_arena" || kind == "position")
      continue;
    std::optional<DType> dtype = parseSafetensorsDType(text(record, "dtype"));
    if (!dtype)
      return "corrupt manifest: an argument of unknown dtype";
    int64_t bytes = int64_t(dtypeSize(*dtype));
    for (int64_t size : shape)
      bytes *= size;
    if (kind == "param") {
      const JsonValue *trainable = record.get("trainable");
      (trainable && trainable->getBool() ? out.trainable : out.frozen) += bytes;
    } else if (kind == "state") {
      out.state += bytes;
    } else if (kind == "input" || kind == "row_starts") {
      out.inputs += bytes;
    } else if (kind == "cache") {
      out.cache += bytes;
    } else {
      out.workspace += bytes;
    }
  }
  int64_t arena = 0;
  if (!evaluate(manifest.get("arena_size"), shapes, arena) ||
      !evaluate(manifest.get("arena_gradients_size"), shapes, out.gradients) ||
      !evaluate(manifest.get("heap_size"), shapes, out.heap) ||
      !evaluate(manifest.get("host_arena_size"), shapes, out.offloaded))
    return "corrupt manifest: a size term names no argument dimension";
  out.activations = arena - out.gradients;
  return "";
}
