// RUN: not lowmem-opt %s --lowmem-plan-memory="alignment=48" 2>&1 | FileCheck %s --check-prefix=ERR48
// RUN: not lowmem-opt %s --lowmem-plan-memory="alignment=100" 2>&1 | FileCheck %s --check-prefix=ERR100
// RUN: not lowmem-opt %s --lowmem-plan-memory="alignment=0" 2>&1 | FileCheck %s --check-prefix=ERR0
// RUN: not lowmem-opt %s --lowmem-plan-memory="alignment=-64" 2>&1 | FileCheck %s --check-prefix=ERRNEG

// BUG: PlanMemory.cpp streams the pass option itself into the diagnostic
// (`<< alignment`, a Pass::Option<int64_t>), which picks the `char` overload
// of Diagnostic::operator<<: alignment=48 prints "got 0" (ASCII 48),
// alignment=100 prints "got d", and 0 or -64 print a raw NUL / 0xC0 byte.

// ERR48: error: plan-memory alignment must be a positive power of two, got 48{{$}}
// ERR100: error: plan-memory alignment must be a positive power of two, got 100{{$}}
// ERR0: error: plan-memory alignment must be a positive power of two, got 0{{$}}
// ERRNEG: error: plan-memory alignment must be a positive power of two, got -64{{$}}
func.func @f(%x: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  memref.copy %x, %a : memref<4xf32> to memref<4xf32>
  return
}
