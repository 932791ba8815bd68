//===- Checkpoint.cpp - recompute activations in the backward -------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Gradient checkpointing on a training step: chooses which activations the
// backward keeps from the forward and clones the forward ops that recompute
// the others just before their first reader in the backward.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include <cmath>
#include <map>

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMCHECKPOINT
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

constexpr StringLiteral kRecomputeAttrName = "lowmem.recompute";
constexpr StringLiteral kCheckpointAttrName = "lowmem.checkpoint";
constexpr StringLiteral kBudgetAttrName = "lowmem.checkpoint_budget";

/// A count as a polynomial in the step's dynamic sizes (the dynamic
/// dimensions of its input in order: BigNet's batch, a decoder's batch and
/// sequence length): the coefficient of each monomial, a monomial being the
/// sorted indices of the sizes it multiplies (repeated for a power).
struct Poly {
  std::map<std::vector<unsigned>, int64_t> terms;

  static Poly constant(int64_t c) {
    Poly p;
    if (c)
      p.terms[{}] = c;
    return p;
  }
  Poly &operator+=(const Poly &other) {
    for (const auto &[monomial, c] : other.terms)
      if ((terms[monomial] += c) == 0)
        terms.erase(monomial);
    return *this;
  }
  Poly operator+(const Poly &other) const {
    Poly sum = *this;
    return sum += other;
  }
  Poly operator*(const Poly &other) const {
    Poly product;
    for (const auto &[a, ca] : terms)
      for (const auto &[b, cb] : other.terms) {
        std::vector<unsigned> monomial(a);
        monomial.insert(monomial.end(), b.begin(), b.end());
        llvm::sort(monomial);
        product += Poly{{{monomial, ca * cb}}};
      }
    return product;
  }
  Poly operator*(int64_t c) const { return *this * constant(c); }
};

/// The product of dimensions [from, to) of `type` (all by default), the
/// k-th dynamic dimension of the type being the step's size k (the last
/// size for any beyond the sizes).
Poly dims(Type type, unsigned sizes, int64_t from = 0, int64_t to = -1) {
  auto shaped = dyn_cast<RankedTensorType>(type);
  if (!shaped)
    return {};
  if (to < 0)
    to = shaped.getRank();
  Poly product = Poly::constant(1);
  unsigned dynamic = 0;
  for (auto [i, d] : llvm::enumerate(shaped.getShape())) {
    bool inRange = int64_t(i) >= from && int64_t(i) < to;
    if (!ShapedType::isDynamic(d)) {
      if (inRange)
        product = product * d;
      continue;
    }
    unsigned size = std::min(dynamic++, sizes ? sizes - 1 : 0);
    if (inRange)
      product = product * Poly{{{{size}, 1}}};
  }
  return product;
}

/// `poly` at `sizes`.
int64_t evaluate(const Poly &poly, ArrayRef<int64_t> sizes) {
  int64_t total = 0;
  for (const auto &[monomial, c] : poly.terms) {
    int64_t term = c;
    for (unsigned size : monomial)
      term *= sizes[size];
    total += term;
  }
  return total;
}

/// Bytes of a tensor of `type` at `sizes` (see dims), as plan-memory aligns
/// them.
int64_t byteSize(Type type, ArrayRef<int64_t> sizes) {
  auto shaped = dyn_cast<RankedTensorType>(type);
  if (!shaped || !shaped.getElementType().isIntOrFloat())
    return 0;
  int64_t bytes = evaluate(dims(type, sizes.size()), sizes) *
                  ((shaped.getElementTypeBitWidth() + 7) / 8);
  return (bytes + 63) / 64 * 64; // plan-memory's alignment
}

/// Floating-point operations of `op` (multiply-adds count two) as a
/// polynomial in the step's `sizes` dynamic sizes: matrix products
/// exactly, attention as every query against every key, elementwise and
/// normalization ops as a few operations an element.
Poly flopsOf(Operation *op, unsigned sizes) {
  if (op->getNumResults() == 0 || op->hasTrait<OpTrait::ConstantLike>())
    return {};
  auto all = [&](Value v) { return dims(v.getType(), sizes); };
  auto rank = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getRank();
  };
  // The last dimension (features), and the ones before it (rows).
  auto last = [&](Value v) {
    return dims(v.getType(), sizes, std::max<int64_t>(rank(v) - 1, 0));
  };
  auto rows = [&](Value v) {
    return dims(v.getType(), sizes, 0, std::max<int64_t>(rank(v) - 1, 0));
  };
  Poly out = all(op->getResult(0));
  if (auto linear = dyn_cast<LinearOp>(op))
    return out * last(linear.getInput()) * 2 + out;
  if (auto qlinear = dyn_cast<QLinearOp>(op))
    return out * last(qlinear.getInput()) * 2 + out;
  if (auto lora = dyn_cast<LoraOp>(op))
    return rows(lora.getInput()) *
               (last(lora.getInput()) + last(lora.getResult())) *
               (2 * lora.getRank()) +
           out;
  if (auto grad = dyn_cast<WeightGradOp>(op))
    return out * rows(grad.getOperand(0)) * 2;
  if (auto fused = dyn_cast<LinearCrossEntropyOp>(op)) {
    auto weight = logicalTensorType(fused.getWeight().getType());
    return all(fused.getLse()) *
           (weight.getNumElements() * 2 + 5 * weight.getDimSize(0));
  }
  if (auto fused = dyn_cast<LinearCrossEntropyGradOp>(op)) {
    auto weight = logicalTensorType(fused.getWeight().getType());
    return all(fused.getLse()) *
           (weight.getNumElements() * 4 + 4 * weight.getDimSize(0));
  }
  if (auto attention = dyn_cast<AttentionOp>(op)) {
    // Every query row against every key of its batch row (the dimensions
    // between the batch and the features): 4 D per pair (two products).
    Value key = attention.getKey();
    return out * dims(key.getType(), sizes, 1, rank(key) - 1) * 4;
  }
  if (auto grad = dyn_cast<AttentionGradOp>(op)) {
    // Per pair: the scores again, dO vᵀ, and the three gradients' products
    // (the query gradient is the first result).
    Value key = grad.getKey();
    return out * dims(key.getType(), sizes, 1, rank(key) - 1) * 10;
  }
  if (isa<GroupNormOp>(op))
    return out * 8;
  if (isa<GroupNormGradOp>(op))
    return out * 12;
  if (isa<SgdOp, AdamWOp>(op))
    return out * 12;
  if (isa<MseLossOp>(op))
    return all(op->getOperand(0)) * 3;
  if (isa<CrossEntropyLossOp>(op))
    return all(op->getOperand(0)) * 4;
  if (isa<CrossEntropyLossGradOp>(op))
    return out * 6;
  return out;
}

/// FLOPs of `ops` (see flopsOf).
Poly flopsOf(ArrayRef<Operation *> ops, unsigned sizes) {
  Poly total;
  for (Operation *op : ops)
    total += flopsOf(op, sizes);
  return total;
}

/// The number of the step's dynamic sizes: the dynamic dimensions of its
/// first argument that has any (the input).
unsigned dynamicSizes(func::FuncOp func) {
  for (Type type : func.getArgumentTypes())
    if (auto tensor = dyn_cast<RankedTensorType>(type);
        tensor && tensor.getNumDynamicDims())
      return tensor.getNumDynamicDims();
  return 0;
}

/// The forward of a training step and its boundaries.
struct StepAnalysis {
  Operation *loss = nullptr;
  DenseSet<Operation *> forward;
  SmallVector<Value> boundaries; // in forward order
};

FailureOr<StepAnalysis> analyze(func::FuncOp func) {
  StepAnalysis a;
  Block &body = func.getBody().front();
  for (Operation &op : body)
    if (isa<MseLossOp, CrossEntropyLossOp, LinearCrossEntropyOp>(op)) {
      if (a.loss)
        return failure();
      a.loss = &op;
    }
  if (!a.loss)
    return failure();
  // The forward: every op the loss depends on.
  SmallVector<Operation *> worklist{a.loss};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!a.forward.insert(op).second)
      continue;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.push_back(def);
  }
  // Activations: forward results and the inputs the model reads (not the
  // target, which only the loss reads). A boundary is a value that is the
  // only live activation right after its definition.
  DenseMap<Operation *, int64_t> position;
  SmallVector<Operation *> order;
  for (Operation &op : body)
    if (a.forward.contains(&op)) {
      position[&op] = order.size();
      order.push_back(&op);
    }
  auto lastForwardUse = [&](Value v) {
    int64_t last = -1;
    for (Operation *user : v.getUsers())
      if (a.forward.contains(user) && user != a.loss)
        last = std::max(last, position.lookup(user));
    return last;
  };
  DenseMap<Value, int64_t> live; // value -> last forward use
  for (BlockArgument arg : body.getArguments())
    if (func.getArgAttr(arg.getArgNumber(), LowMemDialect::kInputAttrName))
      if (int64_t last = lastForwardUse(arg); last >= 0)
        live[arg] = last;
  for (auto [i, op] : llvm::enumerate(order)) {
    if (op == a.loss)
      break;
    // Constants (a decoder's rotary frequencies) are no activations.
    if (!op->hasTrait<OpTrait::ConstantLike>())
      for (Value result : op->getResults())
        if (int64_t last = lastForwardUse(result); last > int64_t(i))
          live[result] = last;
    SmallVector<Value> done;
    for (auto [v, last] : live)
      if (last <= int64_t(i))
        done.push_back(v);
    for (Value v : done)
      live.erase(v);
    if (op->getNumResults() == 1 && live.size() == 1 &&
        live.begin()->first == op->getResult(0))
      a.boundaries.push_back(op->getResult(0));
  }
  // The prediction, read by the loss alone in the forward, ends it.
  Value prediction = a.loss->getOperand(0);
  if (a.boundaries.empty() || a.boundaries.back() != prediction)
    if (prediction.getDefiningOp() &&
        a.forward.contains(prediction.getDefiningOp()))
      a.boundaries.push_back(prediction);
  return a;
}

/// What one application of a policy did.
struct Outcome {
  int64_t kept = 0, recomputedOps = 0;
  Poly recomputeFlops;
};

/// Recomputes, in the backward of `func`, every saved activation that is not
/// in `keep`.
class Recomputer {
public:
  Recomputer(const StepAnalysis &a, const DenseSet<Value> &keep)
      : a(a), keep(keep) {}

  bool needsRecompute(Value v) const {
    Operation *def = v.getDefiningOp();
    return def && def != a.loss && a.forward.contains(def) &&
           !keep.contains(v) && !def->hasTrait<OpTrait::ConstantLike>();
  }

  Value get(Value v, OpBuilder &b) {
    if (!needsRecompute(v))
      return v;
    if (Value done = memo.lookup(v))
      return done;
    Operation *def = v.getDefiningOp();
    IRMapping map;
    for (Value operand : def->getOperands())
      map.map(operand, get(operand, b));
    Operation *clone = b.clone(*def, map);
    clone->setAttr(kRecomputeAttrName, b.getUnitAttr());
    clones.push_back(clone);
    for (auto [original, copy] :
         llvm::zip_equal(def->getResults(), clone->getResults()))
      memo[original] = copy;
    return memo.lookup(v);
  }

  SmallVector<Operation *> clones;

private:
  const StepAnalysis &a;
  const DenseSet<Value> &keep;
  DenseMap<Value, Value> memo;
};

/// Keeps the boundaries selected by `select(i, n)` and recomputes the rest.
Outcome apply(func::FuncOp func, const StepAnalysis &a,
              function_ref<bool(size_t, size_t)> select) {
  DenseSet<Value> keep;
  Outcome outcome;
  size_t n = a.boundaries.size();
  for (auto [i, v] : llvm::enumerate(a.boundaries))
    if (select(i, n)) {
      keep.insert(v);
      ++outcome.kept;
    }
  Block &body = func.getBody().front();
  SmallVector<Operation *> backward;
  for (Operation &op : body)
    if (!a.forward.contains(&op))
      backward.push_back(&op);
  Recomputer recompute(a, keep);
  OpBuilder b(func.getContext());
  for (Operation *op : backward) {
    b.setInsertionPoint(op);
    for (OpOperand &operand : op->getOpOperands())
      if (recompute.needsRecompute(operand.get()))
        operand.set(recompute.get(operand.get(), b));
  }
  placeUpdatesEarly(body);
  outcome.recomputedOps = recompute.clones.size();
  outcome.recomputeFlops = flopsOf(recompute.clones, dynamicSizes(func));
  return outcome;
}

/// The activation arena the step needs, dynamic dimensions `dyn`: as
/// plan-memory packs it, the sum over families of buffers (gradients apart
/// from activations, and by number of dynamic dimensions) of the largest
/// sum of live tensors of the family. Arguments, constants, results
/// returned and updates written in place are not in the arena.
int64_t estimatePeak(func::FuncOp func, ArrayRef<int64_t> sizes) {
  Block &body = func.getBody().front();
  DenseMap<Operation *, int64_t> position;
  int64_t counter = 0;
  for (Operation &op : body)
    position[&op] = counter++;
  DenseSet<Value> gradients;
  for (Operation &op : body)
    if (isa<SgdOp, AdamWOp>(op))
      gradients.insert(op.getOperand(1));
  std::map<std::pair<bool, int64_t>, std::vector<int64_t>> families;
  for (Operation &op : body) {
    if (op.hasTrait<OpTrait::ConstantLike>() || isa<SgdOp, AdamWOp>(op))
      continue;
    for (Value result : op.getResults()) {
      int64_t last = position[&op];
      bool returned = false;
      for (Operation *user : result.getUsers()) {
        returned |= isa<func::ReturnOp>(user);
        last =
            std::max(last, position.lookup(body.findAncestorOpInBlock(*user)));
      }
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (returned || !type)
        continue;
      std::vector<int64_t> &delta =
          families[{gradients.contains(result), type.getNumDynamicDims()}];
      delta.resize(counter + 1, 0);
      int64_t bytes = byteSize(type, sizes);
      delta[position[&op]] += bytes;
      delta[last + 1] -= bytes;
    }
  }
  int64_t total = 0;
  for (auto &[key, delta] : families) {
    int64_t liveBytes = 0, peak = 0;
    for (int64_t d : delta) {
      liveBytes += d;
      peak = std::max(peak, liveBytes);
    }
    total += peak;
  }
  return total;
}

/// Encodes `poly` as [[coefficient, size, ...], ...], the sizes of each
/// monomial by their index among the step's dynamic sizes.
ArrayAttr termsAttr(Builder &b, const Poly &poly) {
  SmallVector<Attribute> out;
  for (const auto &[monomial, c] : poly.terms) {
    SmallVector<int64_t> term{c};
    term.append(monomial.begin(), monomial.end());
    out.push_back(b.getI64ArrayAttr(term));
  }
  return b.getArrayAttr(out);
}

struct CheckpointPass
    : public mlir::lowmem::impl::LowMemCheckpointBase<CheckpointPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || !func.getBody().hasOneBlock())
      return;
    if (policy != "none" && policy != "blocks" && policy != "sqrt" &&
        policy != "budget") {
      func.emitError("unknown checkpoint policy '")
          << policy << "'; expected none, blocks, sqrt or budget";
      return signalPassFailure();
    }
    if (policy == "budget" && (budget <= 0 || batch <= 0)) {
      func.emitError("checkpoint policy budget needs a positive budget (in "
                     "bytes) and batch, got budget=")
          << static_cast<int64_t>(budget)
          << " batch=" << static_cast<int64_t>(batch);
      return signalPassFailure();
    }
    FailureOr<StepAnalysis> a = analyze(func);
    if (failed(a))
      return; // Not a training step (no single loss): nothing to do.
    // The sizes the peak is estimated at: the batch, and a decoder's length.
    SmallVector<int64_t> sizes{batch};
    if (length > 0)
      sizes.push_back(length);
    if (policy == "budget" && dynamicSizes(func) > sizes.size()) {
      func.emitError("checkpoint policy budget: the step's input has ")
          << dynamicSizes(func)
          << " dynamic sizes (a decoder's batch and length); give the length "
             "too (lowmem-compile --batch=BxS)";
      return signalPassFailure();
    }
    std::string at = "batch " + std::to_string(sizes[0]);
    if (sizes.size() > 1)
      at += " and length " + std::to_string(sizes[1]);

    // Candidates, least recomputation first: keep all (none), every
    // boundary (blocks), then every k-th boundary and the last.
    using Select = std::function<bool(size_t, size_t)>;
    auto everyKth = [](size_t k) -> Select {
      return [k](size_t i, size_t n) { return (i + 1) % k == 0 || i + 1 == n; };
    };
    size_t n = a->boundaries.size();
    std::string chosen = policy;
    Select select;
    if (policy == "none") {
      select = nullptr;
    } else if (policy == "blocks") {
      select = everyKth(1);
    } else if (policy == "sqrt") {
      select = everyKth(std::max<size_t>(
          1, static_cast<size_t>(std::ceil(std::sqrt(double(n))))));
    } else {
      SmallVector<std::pair<std::string, Select>> candidates{
          {"none", nullptr}, {"blocks", everyKth(1)}};
      for (size_t k = 2; k <= n; ++k)
        candidates.push_back(
            {"one boundary in " + std::to_string(k), everyKth(k)});
      int64_t smallest = -1;
      std::string smallestName;
      bool found = false;
      for (auto &[name, candidate] : candidates) {
        func::FuncOp trial = func.clone();
        if (candidate) {
          FailureOr<StepAnalysis> ta = analyze(trial);
          apply(trial, *ta, candidate);
        }
        int64_t peak = estimatePeak(trial, sizes);
        trial.erase();
        if (smallest < 0 || peak < smallest) {
          smallest = peak;
          smallestName = name;
        }
        if (peak <= budget) {
          chosen = "budget (" + name + ")";
          select = candidate;
          found = true;
          break;
        }
      }
      if (!found) {
        func.emitError("checkpoint budget of ")
            << static_cast<int64_t>(budget) << " bytes at " << at
            << " cannot be met: the smallest activation peak is " << smallest
            << " bytes (" << smallestName << ")";
        return signalPassFailure();
      }
    }
    Outcome outcome;
    if (select)
      outcome = apply(func, *a, select);
    else
      outcome.kept = n;

    Builder b(func.getContext());
    SmallVector<Operation *> all;
    for (Operation &op : func.getBody().front())
      all.push_back(&op);
    SmallVector<NamedAttribute> info{
        b.getNamedAttr("policy", b.getStringAttr(chosen)),
        b.getNamedAttr("boundaries", b.getI64IntegerAttr(n)),
        b.getNamedAttr("kept", b.getI64IntegerAttr(outcome.kept)),
        b.getNamedAttr("recomputed_ops",
                       b.getI64IntegerAttr(outcome.recomputedOps)),
        b.getNamedAttr("recompute_flops", termsAttr(b, outcome.recomputeFlops)),
        b.getNamedAttr("step_flops",
                       termsAttr(b, flopsOf(all, dynamicSizes(func)))),
        b.getNamedAttr("estimated_peak",
                       b.getI64IntegerAttr(estimatePeak(func, sizes)))};
    func->setAttr(kCheckpointAttrName, b.getDictionaryAttr(info));
    if (policy == "budget") {
      SmallVector<int64_t> record{budget};
      record.append(sizes.begin(), sizes.end());
      func->setAttr(kBudgetAttrName, b.getI64ArrayAttr(record));
    }
  }
};

} // namespace
