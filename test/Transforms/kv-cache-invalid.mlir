// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-kv-cache

// expected-error @+1 {{no function 'forward' to build a generation step from}}
module {
  func.func @model(%x: tensor<?x?xi64>) {
    return
  }
}

// -----

// expected-error @+1 {{a generation step needs exactly one input, token ids [batch, seq] of i64}}
func.func @forward(%x: tensor<?x?x8xf32> {lowmem.input = "x"}) -> tensor<?x?x8xf32> {
  return %x : tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{the forward has no input (lowmem.input)}}
func.func @forward(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  return %x : tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{the forward must return logits [batch, seq, vocab], not 'tensor<?x8xf32>'}}
func.func @forward(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{a generation step is built from a forward with one block and one result (the logits)}}
func.func @forward(%x: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  return %x, %x : tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{the forward has no attention: there is nothing to cache}}
func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"}, %e: tensor<10x8xf32>) -> tensor<?x?x8xf32> {
  %h = lowmem.embedding %ids, %e : tensor<?x?xi64>, tensor<10x8xf32> -> tensor<?x?x8xf32>
  return %h : tensor<?x?x8xf32>
}

// -----

func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"}, %e: tensor<10x8xf32>) -> tensor<?x?x8xf32> {
  %h = lowmem.embedding %ids, %e : tensor<?x?xi64>, tensor<10x8xf32> -> tensor<?x?x8xf32>
  // expected-error @+1 {{is not causal: earlier positions would see later ones, which a KV cache cannot hold}}
  %a = lowmem.attention %h, %h, %h {num_heads = 2 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f64} : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<?x?x8xf32>
  return %a : tensor<?x?x8xf32>
}

// -----

func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"}, %e: tensor<10x8xf32>, %f: tensor<2xf32>, %p: index) -> tensor<?x?x8xf32> {
  %h = lowmem.embedding %ids, %e : tensor<?x?xi64>, tensor<10x8xf32> -> tensor<?x?x8xf32>
  // expected-error @+1 {{already has a run-time offset}}
  %r = lowmem.rope %h, %f offset(%p) {head_dim = 4 : i64} : tensor<?x?x8xf32>, tensor<2xf32> -> tensor<?x?x8xf32>
  %a = lowmem.attention %r, %h, %h {causal, num_heads = 2 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f64} : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<?x?x8xf32>
  return %a : tensor<?x?x8xf32>
}

// -----

func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"}, %e: tensor<10x8xf32>) -> tensor<?x?x8xf32> {
  %h = lowmem.embedding %ids, %e : tensor<?x?xi64>, tensor<10x8xf32> -> tensor<?x?x8xf32>
  // expected-error @+1 {{cannot be part of a generation step: the KV cache needs every position computed from its own inputs, apart from attention and rope}}
  %m = lowmem.mse_loss %h, %h : tensor<?x?x8xf32> -> tensor<f32>
  %a = lowmem.attention %h, %h, %h {causal, num_heads = 2 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f64} : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<?x?x8xf32>
  return %a : tensor<?x?x8xf32>
}


// -----

// expected-error @+1 {{a generation step needs a dynamic sequence dimension: prefill and decode steps run different numbers of tokens}}
func.func @forward(%ids: tensor<?x8xi64> {lowmem.input = "ids"}, %e: tensor<10x8xf32>) -> tensor<?x8x8xf32> {
  %h = lowmem.embedding %ids, %e : tensor<?x8xi64>, tensor<10x8xf32> -> tensor<?x8x8xf32>
  return %h : tensor<?x8x8xf32>
}
