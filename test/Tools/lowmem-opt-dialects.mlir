// lowmem-opt reads back what any prefix of a lowmem pipeline prints: the
// dialects of its intermediate IR (control flow after scf-to-cf, affine
// maps of linalg's loops, index arithmetic, poison, data layouts) besides
// lowmem's own and those it lowers through.
//
// RUN: lowmem-opt %s | lowmem-opt | FileCheck %s

// CHECK-LABEL: func.func @intermediate(
// CHECK: affine.apply
// CHECK: index.add
// CHECK: ub.poison
// CHECK: cf.cond_br
// CHECK: cf.br
module attributes {dlti.dl_spec = #dlti.dl_spec<index = 64 : i32>} {
  func.func @intermediate(%i: index, %c: i1) -> index {
    %a = affine.apply affine_map<(d0) -> (d0 * 4 + 1)>(%i)
    %b = index.add %a, %i
    %p = ub.poison : index
    cf.cond_br %c, ^left, ^right
  ^left:
    cf.br ^done(%b : index)
  ^right:
    cf.br ^done(%p : index)
  ^done(%r: index):
    return %r : index
  }
}
