//===- PlanMemory.cpp - static arena planning of temporary buffers --------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Buffers whose sizes are a constant, or a constant times one product of
// dynamic input dimensions (the batch size, typically), are packed into one
// arena. Within a family of sizes that share the same product, offsets are
// multiples of that product, so the packing found for the coefficients holds
// for every value of the dynamic dimensions.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/MapVector.h"

#include <deque>
#include <functional>
#include <map>

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMPLANMEMORY
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// A dynamic dimension of a function argument: (argument number, dim).
using Symbol = std::pair<int64_t, int64_t>;
/// A product of dynamic dimensions; empty for constants.
using Monomial = SmallVector<Symbol, 2>;

/// What a planned buffer holds, and so where it is packed: gradients and
/// activations in the arena (gradients first), offloaded pieces of
/// activations in the host arena.
enum class Kind { Gradient, Activation, Host };

/// A planned buffer, or a piece of one: an offloaded activation is split
/// into device pieces around its idle gaps, each gap held by a host piece.
struct Buffer {
  memref::AllocOp alloc;      // the allocation, on every piece of a buffer
  int64_t start = 0, end = 0; // live range over top-level op indices
  int64_t coefficient = 0;    // bytes per unit of the monomial
  Monomial monomial;
  int64_t offset = 0; // coefficient offset within its family
  Kind kind = Kind::Activation;
  bool escapes = false;
  SmallVector<int64_t> uses; // sorted top-level positions using the buffer
  /// A loop's scratch: the buffers allocated in its body (`alloc` is null),
  /// packed among themselves, placed as one.
  Operation *loop = nullptr;
  SmallVector<Buffer *> inner;
};

int64_t alignTo(int64_t value, int64_t align) {
  return (value + align - 1) / align * align;
}

/// Best-fit packing of buffers with overlapping live ranges: buffers are
/// placed largest first at the lowest offset that does not collide with an
/// already placed buffer whose live range overlaps. Returns the family size.
int64_t packFamily(SmallVectorImpl<Buffer *> &family) {
  // Largest first; ties by live range start for a deterministic plan.
  llvm::sort(family, [](Buffer *a, Buffer *b) {
    return std::make_pair(-a->coefficient, a->start) <
           std::make_pair(-b->coefficient, b->start);
  });
  SmallVector<Buffer *> placed;
  int64_t size = 0;
  for (Buffer *buf : family) {
    SmallVector<std::pair<int64_t, int64_t>> busy;
    for (Buffer *other : placed)
      if (other->start <= buf->end && buf->start <= other->end)
        busy.push_back({other->offset, other->offset + other->coefficient});
    llvm::sort(busy);
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + buf->coefficient <= lo)
        break;
      offset = std::max(offset, hi);
    }
    buf->offset = offset;
    size = std::max(size, offset + buf->coefficient);
    placed.push_back(buf);
  }
  return size;
}

/// Buffers of one family share a kind and a monomial.
using Family = std::pair<Kind, Monomial>;

/// The position with the most bytes live among `family` (the first such).
int64_t peakPosition(ArrayRef<Buffer *> family, int64_t *bytes = nullptr) {
  std::map<int64_t, int64_t> delta; // position -> change in live bytes
  for (Buffer *buf : family) {
    delta[buf->start] += buf->coefficient;
    delta[buf->end + 1] -= buf->coefficient;
  }
  int64_t live = 0, peak = 0, at = 0;
  for (auto [position, change] : delta) {
    live += change;
    if (live > peak) {
      peak = live;
      at = position;
    }
  }
  if (bytes)
    *bytes = peak;
  return at;
}

/// Offloads the activations of one family that sit idle across its peak:
/// each is split at the gap between the two uses around the peak into a
/// device piece up to the first use, a host piece over the gap and a
/// device piece from the second use on; until nothing live at the peak is
/// idle there. A gap counts when some op in it computes: `work[p]` is the
/// number of such ops before position p. New pieces are appended to
/// `pieces` and `family`.
void offloadIdle(SmallVectorImpl<Buffer *> &family, std::deque<Buffer> &pieces,
                 ArrayRef<int64_t> work) {
  while (true) {
    int64_t at = peakPosition(family);
    // Each buffer to split, with its first use after the peak.
    SmallVector<std::pair<Buffer *, int64_t *>> split;
    for (Buffer *buf : family) {
      if (buf->escapes || at <= buf->start || buf->end <= at ||
          llvm::is_contained(buf->uses, at))
        continue;
      int64_t *next = llvm::upper_bound(buf->uses, at);
      if (work[*next] - work[*std::prev(next) + 1] > 0)
        split.push_back({buf, next});
    }
    if (split.empty())
      return;
    for (auto [buf, next] : split) {
      int64_t before = *std::prev(next), after = *next;
      Buffer &host = pieces.emplace_back(*buf);
      host.kind = Kind::Host;
      host.start = before;
      host.end = after;
      host.uses = {before, after};
      Buffer &rest = pieces.emplace_back(*buf);
      rest.start = after;
      rest.uses.assign(next, buf->uses.end());
      buf->end = before;
      buf->uses.erase(next, buf->uses.end());
      family.push_back(&rest);
    }
  }
}

/// True when `use` is an input of an op that writes a trainable parameter
/// argument: the gradient an optimizer step consumes.
bool isGradientRead(OpOperand &use, func::FuncOp func) {
  auto dps = dyn_cast<DestinationStyleOpInterface>(use.getOwner());
  if (!dps || !dps.isDpsInput(&use))
    return false;
  return llvm::any_of(dps.getDpsInits(), [&](Value init) {
    auto arg = dyn_cast<BlockArgument>(init);
    return arg && arg.getOwner() == &func.getBody().front() &&
           func.getArgAttr(arg.getArgNumber(),
                           LowMemDialect::kTrainableAttrName);
  });
}

/// The constant a dynamic size is bounded by: `min(c, x)` with c > 0.
std::optional<int64_t> boundOf(Value size) {
  Operation *def = size.getDefiningOp();
  if (!def || !isa<arith::MinSIOp, arith::MinUIOp>(def))
    return std::nullopt;
  std::optional<int64_t> bound;
  for (Value operand : def->getOperands())
    if (std::optional<int64_t> c = getConstantIntValue(operand))
      if (*c > 0)
        bound = bound ? std::min(*bound, *c) : *c;
  return bound;
}

/// Describes a family's monomial: "constant" or e.g. "arg0.d0*arg0.d1".
std::string describe(const Monomial &monomial) {
  if (monomial.empty())
    return "constant";
  std::string out;
  for (auto [arg, dim] : monomial) {
    if (!out.empty())
      out += "*";
    out += "arg" + std::to_string(arg) + ".d" + std::to_string(dim);
  }
  return out;
}

/// Remarks on `func`, for one family, the top-level op where the most bytes
/// are live and the `top` largest buffers live there.
void remarkPeak(func::FuncOp func, const Family &key, ArrayRef<Buffer *> family,
                int64_t packed, int64_t top) {
  int64_t peak = 0;
  int64_t at = peakPosition(family, &peak);
  SmallVector<Buffer *> alive;
  for (Buffer *buf : family)
    if (buf->start <= at && at <= buf->end)
      alive.push_back(buf);
  llvm::sort(alive, [](Buffer *a, Buffer *b) {
    return std::make_pair(-a->coefficient, a->start) <
           std::make_pair(-b->coefficient, b->start);
  });
  InFlightDiagnostic diag = func.emitRemark();
  const char *kind = key.first == Kind::Gradient     ? "gradients"
                     : key.first == Kind::Activation ? "activations"
                                                     : "offloaded activations";
  diag << kind << " per " << describe(key.second) << ": " << peak
       << " bytes live at op " << at << " (packed in " << packed << "), "
       << alive.size() << " buffers";
  for (Buffer *buf : ArrayRef(alive).take_front(top)) {
    if (buf->loop) {
      diag.attachNote(buf->loop->getLoc())
          << buf->coefficient << " bytes, the scratch of a loop's "
          << buf->inner.size() << " buffers, at op " << buf->start;
      continue;
    }
    diag.attachNote(buf->alloc.getLoc())
        << buf->coefficient << " bytes, " << buf->alloc.getType()
        << ", live over ops " << buf->start << ".." << buf->end;
  }
}

/// Checks the arena against the activation budget the checkpoint pass
/// recorded, `[bytes, size, ...]`: each argument's k-th dynamic dimension
/// takes the k-th size (the last for any beyond).
LogicalResult checkBudget(func::FuncOp func,
                          ArrayRef<std::pair<int64_t, Monomial>> terms) {
  auto budget = func->getAttrOfType<ArrayAttr>("lowmem.checkpoint_budget");
  if (!budget || budget.size() < 2)
    return success();
  int64_t bytes = cast<IntegerAttr>(budget[0]).getInt();
  SmallVector<int64_t> sizes;
  for (Attribute size : budget.getValue().drop_front())
    sizes.push_back(cast<IntegerAttr>(size).getInt());
  auto sizeOf = [&](Symbol symbol) {
    auto type = cast<ShapedType>(func.getArgumentTypes()[symbol.first]);
    int64_t k = llvm::count_if(type.getShape().take_front(symbol.second),
                               ShapedType::isDynamic);
    return sizes[std::min<size_t>(k, sizes.size() - 1)];
  };
  int64_t arena = 0;
  for (const auto &[coefficient, monomial] : terms) {
    int64_t term = coefficient;
    for (Symbol symbol : monomial)
      term *= sizeOf(symbol);
    arena += term;
  }
  if (arena <= bytes)
    return success();
  InFlightDiagnostic error = func.emitError("the planned activation arena is ")
                             << arena << " bytes at batch " << sizes[0];
  if (sizes.size() > 1)
    error << " and length " << sizes[1];
  return error << ", over the checkpoint budget of " << bytes
               << " bytes; give a larger budget";
}

/// Materializes the pieces of one offloaded buffer (`all`: its device
/// pieces, the first of which keeps the allocation, and the host pieces
/// between them). Each gap gets a copy to its host piece after the last use
/// before it and a copy back into the next device piece before the first
/// use after it; every use (through views too) moves to the device piece of
/// its position, views made before a gap being made again after it.
void materializePieces(ArrayRef<Buffer *> all,
                       function_ref<Value(OpBuilder &, Buffer &)> viewOf,
                       ArrayRef<Operation *> opAt,
                       const DenseMap<Operation *, int64_t> &position,
                       Block &body) {
  SmallVector<Buffer *> device, host;
  for (Buffer *piece : all)
    (piece->kind == Kind::Host ? host : device).push_back(piece);
  auto byStart = [](Buffer *a, Buffer *b) { return a->start < b->start; };
  llvm::sort(device, byStart);
  llvm::sort(host, byStart);
  assert(host.size() + 1 == device.size() && "a host piece per gap");
  Value root = device.front()->alloc.getResult();
  Location loc = root.getLoc();
  DenseMap<std::pair<Value, size_t>, Value> counterpart;
  counterpart[{root, 0}] = root;
  for (size_t j = 0; j < host.size(); ++j) {
    OpBuilder out(opAt[device[j]->end]->getContext());
    out.setInsertionPointAfter(opAt[device[j]->end]);
    Value parked = viewOf(out, *host[j]);
    linalg::CopyOp::create(out, loc, ValueRange{counterpart[{root, j}]},
                           ValueRange{parked});
    OpBuilder in(opAt[device[j + 1]->start]);
    Value back = viewOf(in, *device[j + 1]);
    linalg::CopyOp::create(in, loc, ValueRange{parked}, ValueRange{back});
    counterpart[{root, j + 1}] = back;
  }
  auto pieceAt = [&](int64_t at) {
    size_t j = 0;
    while (j + 1 < device.size() && device[j + 1]->start <= at)
      ++j;
    return j;
  };
  // The counterpart of `value` (the buffer or a view of it) in piece j.
  std::function<Value(Value, size_t)> get = [&](Value value, size_t j) {
    if (Value known = counterpart.lookup({value, j}))
      return known;
    Operation *op = value.getDefiningOp();
    auto view = cast<ViewLikeOpInterface>(op);
    IRMapping mapping;
    mapping.map(view.getViewSource(), get(view.getViewSource(), j));
    OpBuilder ib(opAt[device[j]->start]);
    Operation *clone = ib.clone(*op, mapping);
    Value result = clone->getResult(cast<OpResult>(value).getResultNumber());
    counterpart[{value, j}] = result;
    return result;
  };
  SmallVector<std::pair<Value, size_t>> worklist{{root, 0}};
  while (!worklist.empty()) {
    auto [value, defined] = worklist.pop_back_val();
    for (OpOperand &use : llvm::make_early_inc_range(value.getUses())) {
      Operation *owner = use.getOwner();
      Operation *top = body.findAncestorOpInBlock(*owner);
      auto it = position.find(top);
      if (it == position.end())
        continue; // a copy made here
      size_t j = pieceAt(it->second);
      auto view = dyn_cast<ViewLikeOpInterface>(owner);
      bool viewed = view && view.getViewSource() == value;
      if (j != defined)
        use.set(get(value, j));
      if (viewed)
        for (Value result : owner->getResults())
          worklist.push_back({result, j});
    }
  }
}

/// Encodes terms as [[coefficient, [arg, dim], ...], ...].
ArrayAttr termsAttr(Builder &b, ArrayRef<std::pair<int64_t, Monomial>> terms) {
  SmallVector<Attribute> out;
  for (const auto &[coefficient, monomial] : terms) {
    SmallVector<Attribute> term{b.getI64IntegerAttr(coefficient)};
    for (auto [arg, dim] : monomial)
      term.push_back(b.getI64ArrayAttr({arg, dim}));
    out.push_back(b.getArrayAttr(term));
  }
  return b.getArrayAttr(out);
}

struct PlanMemoryPass
    : public mlir::lowmem::impl::LowMemPlanMemoryBase<PlanMemoryPass> {
  using Base::Base;

  /// Expresses the dynamic size `value` as an argument dimension.
  std::optional<Symbol> symbolOf(Value value, func::FuncOp func) {
    auto dim = value.getDefiningOp<memref::DimOp>();
    if (!dim)
      return std::nullopt;
    auto arg = dyn_cast<BlockArgument>(dim.getSource());
    std::optional<int64_t> index = dim.getConstantIndex();
    if (!arg || !index || arg.getOwner() != &func.getBody().front())
      return std::nullopt;
    return Symbol{arg.getArgNumber(), *index};
  }

  /// Says why `op` is not planned: a remark, or with results-in-arena,
  /// where nothing may be left on the heap, an error.
  LogicalResult notPlanned(Operation *op, const Twine &why) {
    if (!resultsInArena) {
      op->emitRemark("not planned: ") << why;
      return success();
    }
    op->emitError("cannot plan this buffer, and results-in-arena leaves no "
                  "heap: ")
        << why;
    return failure();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
      func.emitError() << "plan-memory alignment must be a positive power of "
                          "two, got "
                       << static_cast<int64_t>(alignment);
      return signalPassFailure();
    }
    if (!func.getBody().hasOneBlock()) {
      if (failed(notPlanned(func, "the function has more than one block")))
        signalPassFailure();
      return;
    }
    Block &body = func.getBody().front();
    DenseMap<Operation *, int64_t> position;
    int64_t counter = 0;
    for (Operation &op : body)
      position[&op] = counter++;

    std::deque<Buffer> buffers;
    SmallVector<std::pair<int64_t, Monomial>> heapTerms;
    SmallVector<int64_t> heapAlignments;
    bool roundHeapAtRunTime = false;
    // Analyzes one allocation of `block` (the body, or a loop's body when
    // `inLoop`) at positions `where`: `planned` when it goes to the arena.
    // Top-level buffers that cannot be planned stay on the heap and count
    // in its terms; a loop's stay as they are (on the CPU: allocated each
    // iteration). Either is an error with results-in-arena.
    auto analyze = [&](memref::AllocOp alloc, Block &block,
                       const DenseMap<Operation *, int64_t> &where, bool inLoop,
                       Buffer &buf, bool &planned) -> LogicalResult {
      planned = false;
      MemRefType type = alloc.getType();
      if (!type.getLayout().isIdentity() ||
          !type.getElementType().isIntOrFloat())
        return notPlanned(alloc, "non-identity layout or element type");
      buf.alloc = alloc;
      buf.start = where.lookup(alloc);
      buf.end = buf.start;
      buf.coefficient = (type.getElementTypeBitWidth() + 7) / 8;
      for (int64_t dim : type.getShape())
        if (!ShapedType::isDynamic(dim))
          buf.coefficient *= dim;
      for (Value size : alloc.getDynamicSizes()) {
        if (std::optional<Symbol> sym = symbolOf(size, func)) {
          buf.monomial.push_back(*sym);
          continue;
        }
        std::optional<int64_t> bound =
            inLoop ? boundOf(size) : std::optional<int64_t>();
        if (!bound)
          return notPlanned(alloc, inLoop ? "a dynamic size is neither a "
                                            "dimension of a function argument "
                                            "nor bounded by a constant"
                                          : "a dynamic size is not a "
                                            "dimension of a function argument");
        buf.coefficient *= *bound;
      }
      llvm::sort(buf.monomial);
      // Live range through aliases; returned buffers escape. A buffer that
      // flows into anything but a view (a select, a region result, a call
      // returning memrefs) may be aliased where we cannot follow it: such a
      // buffer stays a heap allocation.
      bool escapes = false, untracked = false;
      SmallVector<Value> worklist{alloc.getResult()};
      while (!worklist.empty()) {
        Value value = worklist.pop_back_val();
        for (OpOperand &use : value.getUses()) {
          Operation *owner = use.getOwner();
          if (isa<func::ReturnOp>(owner))
            escapes = true;
          Operation *top = block.findAncestorOpInBlock(*owner);
          buf.uses.push_back(where.lookup(top));
          buf.end = std::max(buf.end, where.lookup(top));
          if (isGradientRead(use, func))
            buf.kind = Kind::Gradient;
          auto view = dyn_cast<ViewLikeOpInterface>(owner);
          if (view && view.getViewSource() == value) {
            llvm::append_range(worklist, owner->getResults());
            continue;
          }
          bool makesMemRefs = llvm::any_of(owner->getResultTypes(), [](Type t) {
            return isa<BaseMemRefType>(t);
          });
          bool forwardsOperands = owner->hasTrait<OpTrait::IsTerminator>() &&
                                  !isa<func::ReturnOp>(owner);
          if (makesMemRefs || forwardsOperands)
            untracked = true;
        }
      }
      if (inLoop && (escapes || untracked))
        return notPlanned(alloc, "a buffer allocated in a loop leaves its "
                                 "iteration");
      if (untracked && failed(notPlanned(alloc, "the buffer may be aliased "
                                                "through an operation that "
                                                "is not a view")))
        return failure();
      // Heap buffers are never freed by the compiled code: they count until
      // the function returns. In the arena, a result lives as long.
      buf.escapes = escapes;
      buf.uses.push_back(buf.start);
      llvm::sort(buf.uses);
      buf.uses.erase(llvm::unique(buf.uses), buf.uses.end());
      if (escapes && resultsInArena)
        buf.end = counter;
      else if (escapes || untracked) {
        // The allocator hook receives the size rounded up to the alignment
        // (aligned_alloc's rule). Static sizes are rounded here; a dynamic
        // size whose bytes per unit are not a multiple of the alignment (a
        // row of 1000 f32 logits) is rounded by the runtime once the sizes
        // are known: lowmem.heap_alignment gives each term's alignment.
        int64_t bytes = buf.coefficient;
        int64_t align = 1;
        if (std::optional<uint64_t> a = alloc.getAlignment())
          align = static_cast<int64_t>(*a);
        if (buf.monomial.empty())
          bytes = alignTo(bytes, align);
        else if (bytes % align != 0)
          roundHeapAtRunTime = true;
        heapTerms.push_back({bytes, buf.monomial});
        heapAlignments.push_back(buf.monomial.empty() ? 1 : align);
        return success();
      }
      planned = true;
      return success();
    };
    for (auto alloc : body.getOps<memref::AllocOp>()) {
      Buffer &buf = buffers.emplace_back();
      bool planned = false;
      if (failed(
              analyze(alloc, body, position, /*inLoop=*/false, buf, planned)))
        return signalPassFailure();
      if (!planned)
        buffers.pop_back();
    }
    // A loop's body (a chunked MLP) allocates its buffers anew each
    // iteration, sized by the chunk: they are packed among themselves by
    // their live ranges in the body, and the loop's scratch is placed as one
    // buffer live at the loop. A size bounded by a constant (a chunk's
    // `min(rows, left)`) counts as that constant.
    std::deque<Buffer> nested;
    for (Operation &op : body) {
      auto loop = dyn_cast<scf::ForOp>(op);
      if (!loop)
        continue;
      Block &inner = *loop.getBody();
      DenseMap<Operation *, int64_t> where;
      int64_t k = 0;
      for (Operation &o : inner)
        where[&o] = k++;
      std::map<Family, SmallVector<Buffer *>> groups;
      for (auto alloc : inner.getOps<memref::AllocOp>()) {
        Buffer &buf = nested.emplace_back();
        bool planned = false;
        if (failed(analyze(alloc, inner, where, /*inLoop=*/true, buf, planned)))
          return signalPassFailure();
        if (!planned) {
          nested.pop_back();
          continue;
        }
        buf.coefficient = alignTo(buf.coefficient, alignment);
        groups[{buf.kind, buf.monomial}].push_back(&buf);
      }
      for (auto &[key, group] : groups) {
        Buffer &scratch = buffers.emplace_back();
        scratch.loop = loop;
        scratch.kind = key.first;
        scratch.monomial = key.second;
        scratch.coefficient = packFamily(group);
        scratch.start = scratch.end = position[loop];
        scratch.uses = {scratch.start};
        scratch.inner.assign(group.begin(), group.end());
      }
    }

    // Group into families by kind and monomial, constants first; gradients
    // in families of their own at the start of the arena, so that the plan
    // tells them apart from activations. With offload, activations idle
    // across their family's peak move to the host arena meanwhile.
    std::map<Family, SmallVector<Buffer *>> families;
    std::deque<Buffer> pieces;
    for (Buffer &buf : buffers) {
      buf.coefficient = alignTo(buf.coefficient, alignment);
      families[{buf.kind, buf.monomial}].push_back(&buf);
    }
    if (offload) {
      // Ops that compute, as opposed to allocating, viewing or naming
      // constants and sizes: only a gap over some of them is worth a copy.
      SmallVector<int64_t> work{0};
      for (Operation &op : body) {
        bool computes =
            !isa<memref::AllocOp, memref::DimOp, ViewLikeOpInterface>(op) &&
            !op.hasTrait<OpTrait::ConstantLike>();
        work.push_back(work.back() + (computes ? 1 : 0));
      }
      for (auto &[key, family] : families)
        if (key.first == Kind::Activation)
          offloadIdle(family, pieces, work);
      for (Buffer &piece : pieces)
        if (piece.kind == Kind::Host)
          families[{Kind::Host, piece.monomial}].push_back(&piece);
    }
    SmallVector<std::pair<int64_t, Monomial>> arenaTerms, gradientTerms,
        hostTerms;
    std::map<Family, SmallVector<std::pair<int64_t, Monomial>>> familyBase;
    for (auto &[key, family] : families) {
      auto &terms = key.first == Kind::Host ? hostTerms : arenaTerms;
      familyBase[key] = terms;
      int64_t size = packFamily(family);
      if (reportPeak > 0)
        remarkPeak(func, key, family, size, reportPeak);
      terms.push_back({size, key.second});
      if (key.first == Kind::Gradient)
        gradientTerms.push_back({size, key.second});
    }
    if (failed(checkBudget(func, arenaTerms)))
      return signalPassFailure();

    // Materialize: trailing arena arguments and views into them.
    OpBuilder b(func.getContext());
    Type i8 = b.getI8Type();
    auto arenaType = MemRefType::get({ShapedType::kDynamic}, i8);
    auto addArena = [&](StringRef attr) -> Value {
      unsigned index = func.getNumArguments();
      if (failed(func.insertArgument(
              index, arenaType,
              b.getDictionaryAttr(b.getNamedAttr(attr, b.getUnitAttr())),
              func.getLoc()))) {
        func.emitError("cannot add the arena argument");
        return nullptr;
      }
      return func.getArgument(index);
    };
    Value arena = addArena("lowmem.arena");
    Value hostArena =
        hostTerms.empty() ? Value() : addArena("lowmem.host_arena");
    if (!arena || (!hostTerms.empty() && !hostArena))
      return signalPassFailure();
    b.setInsertionPointToStart(&body);
    Location loc = func.getLoc();
    std::map<Symbol, Value> symbolValues;
    auto valueOf = [&](const Monomial &monomial) -> Value {
      Value product = arith::ConstantIndexOp::create(b, loc, 1);
      for (const Symbol &sym : monomial) {
        Value &v = symbolValues[sym];
        if (!v)
          v = memref::DimOp::create(b, loc, func.getArgument(sym.first),
                                    sym.second);
        product = arith::MulIOp::create(b, loc, product, v);
      }
      return product;
    };
    auto evaluate = [&](ArrayRef<std::pair<int64_t, Monomial>> terms) {
      Value sum = arith::ConstantIndexOp::create(b, loc, 0);
      for (const auto &[coefficient, monomial] : terms) {
        Value c = arith::ConstantIndexOp::create(b, loc, coefficient);
        Value term = arith::MulIOp::create(b, loc, c, valueOf(monomial));
        sum = arith::AddIOp::create(b, loc, sum, term);
      }
      return sum;
    };
    std::map<Family, std::pair<Value, Value>> familyValues; // base, unit
    for (auto &[key, family] : families)
      familyValues[key] = {evaluate(familyBase[key]), valueOf(key.second)};
    // A view of `buf` at the builder's insertion point.
    auto viewOf = [&](OpBuilder &ib, Buffer &buf) -> Value {
      auto [base, unit] = familyValues[{buf.kind, buf.monomial}];
      Value c = arith::ConstantIndexOp::create(ib, loc, buf.offset);
      Value offset = arith::AddIOp::create(
          ib, loc, base, arith::MulIOp::create(ib, loc, c, unit));
      return memref::ViewOp::create(ib, buf.alloc.getLoc(), buf.alloc.getType(),
                                    buf.kind == Kind::Host ? hostArena : arena,
                                    offset, buf.alloc.getDynamicSizes());
    };
    std::vector<Operation *> opAt(body.getOperations().size());
    for (auto [op, index] : position)
      opAt[index] = op;
    // The pieces an offloaded buffer was split into, by allocation.
    DenseMap<Operation *, SmallVector<Buffer *>> piecesOf;
    for (Buffer &piece : pieces)
      piecesOf[piece.alloc].push_back(&piece);
    // The allocation becomes a view; its deallocs go first, so that no use
    // of an offloaded buffer is left to remap but real ones.
    auto replaceAlloc = [&](Buffer &buf) {
      for (Operation *user : llvm::make_early_inc_range(buf.alloc->getUsers()))
        if (isa<memref::DeallocOp>(user))
          user->erase();
      if (auto it = piecesOf.find(buf.alloc); it != piecesOf.end()) {
        SmallVector<Buffer *> all{&buf};
        llvm::append_range(all, it->second);
        materializePieces(all, viewOf, opAt, position, body);
      }
      OpBuilder ib(buf.alloc);
      Value view = viewOf(ib, buf);
      buf.alloc.replaceAllUsesWith(view);
      buf.alloc.erase();
    };
    for (Buffer &buf : buffers) {
      if (!buf.loop) {
        replaceAlloc(buf);
        continue;
      }
      for (Buffer *in : buf.inner) {
        in->offset += buf.offset;
        replaceAlloc(*in);
      }
    }
    func->setAttr("lowmem.arena_size", termsAttr(b, arenaTerms));
    func->setAttr("lowmem.heap_size", termsAttr(b, heapTerms));
    if (roundHeapAtRunTime)
      func->setAttr("lowmem.heap_alignment", b.getI64ArrayAttr(heapAlignments));
    func->setAttr("lowmem.arena_gradients_size", termsAttr(b, gradientTerms));
    if (hostArena)
      func->setAttr("lowmem.host_arena_size", termsAttr(b, hostTerms));
  }
};

} // namespace
