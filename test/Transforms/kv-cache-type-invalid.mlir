// RUN: lowmem-opt %s -verify-diagnostics --lowmem-kv-cache="cache-type=f8"

// expected-error @+1 {{unknown KV cache type 'f8'; expected f32, f16, bf16 or int8}}
func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"}) -> tensor<?x?x8xf32> {
  %e = arith.constant dense<1.0> : tensor<2x3x8xf32>
  %c = tensor.cast %e : tensor<2x3x8xf32> to tensor<?x?x8xf32>
  return %c : tensor<?x?x8xf32>
}
