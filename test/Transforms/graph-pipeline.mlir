// RUN: lowmem-opt %s --lowmem-graph-pipeline | FileCheck %s --check-prefix=F32
// RUN: lowmem-opt %s --lowmem-graph-pipeline="format=f32" | FileCheck %s --check-prefix=F32
// RUN: lowmem-opt %s --lowmem-graph-pipeline="format=nf4 double-quant" | FileCheck %s --check-prefix=NF4DQ
// RUN: lowmem-opt %s --lowmem-graph-pipeline="format=int4 block-size=32 skip=model.2.weight" | FileCheck %s --check-prefix=INT4
// RUN: lowmem-opt %s --lowmem-graph-pipeline="format=nf4 lora-rank=4 lora-alpha=16 lora-targets=model.2" | FileCheck %s --check-prefix=QLORA
// RUN: not lowmem-opt %s --lowmem-graph-pipeline="format=int8 double-quant" 2>&1 | FileCheck %s --check-prefix=ERR

// The graph pipeline quantizes the weights of linear layers (unless
// format=f32, the default), then folds relu and the residual add into the
// linear layers.

// F32-LABEL: func.func @forward
// F32-SAME: ([[X:%[^:]+]]: tensor<?x8xf32> {lowmem.input = "x"}, [[W0:%[^:]+]]: tensor<16x8xf32> {{.+}}, [[B0:%[^:]+]]: tensor<16xf32> {{.+}}, [[G:%[^:]+]]: tensor<16xf32> {{.+}}, [[B:%[^:]+]]: tensor<16xf32> {{.+}}, [[W1:%[^:]+]]: tensor<8x16xf32> {lowmem.param = "model.2.weight"})
// F32-NEXT: [[H:%.+]] = lowmem.linear [[X]], [[W0]] bias([[B0]] : tensor<16xf32>) activation <relu> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
// F32-NEXT: [[N:%.+]] = lowmem.group_norm [[H]], [[G]], [[B]]
// F32-NEXT: [[Y:%.+]] = lowmem.linear [[N]], [[W1]] residual([[X]] : tensor<?x8xf32>) : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
// F32-NEXT: return [[Y]]

// QLoRA: the adapter is attached first, so its weights stay full precision
// and trainable while the base weight is quantized; the branch is folded
// into the base layer's epilogue as its residual.
// QLORA-LABEL: func.func @forward
// QLORA-SAME: [[W1:%[^:]+]]: !lowmem.qtensor<8x16xf32, nf4, block = 64> {lowmem.param = "model.2.weight"}
// QLORA-SAME: [[A:%[^:]+]]: tensor<4x16xf32> {lowmem.param = "model.2.lora_A.weight", lowmem.trainable}
// QLORA-SAME: [[B:%[^:]+]]: tensor<8x4xf32> {lowmem.param = "model.2.lora_B.weight", lowmem.trainable})
// QLORA: [[N:%.+]] = lowmem.group_norm
// QLORA-NEXT: [[L:%.+]] = lowmem.lora [[N]], [[A]], [[B]] {alpha = 1.600000e+01 : f64}
// QLORA-NEXT: [[Y:%.+]] = lowmem.qlinear [[N]], [[W1]] residual([[L]] : tensor<?x8xf32>)
// QLORA-NEXT: [[R:%.+]] = lowmem.add {{.*}}[[Y]]
// QLORA-NEXT: return [[R]]

// NF4DQ-LABEL: func.func @forward
// NF4DQ-SAME: [[W0:%[^:]+]]: !lowmem.qtensor<16x8xf32, nf4, block = 64, double_quant> {lowmem.param = "model.0.weight"}
// NF4DQ-SAME: [[W1:%[^:]+]]: !lowmem.qtensor<8x16xf32, nf4, block = 64, double_quant> {lowmem.param = "model.2.weight"}
// NF4DQ-NEXT: [[H:%.+]] = lowmem.qlinear %{{.+}}, [[W0]] bias(%{{.+}} : tensor<16xf32>) activation <relu>
// NF4DQ-NEXT: [[N:%.+]] = lowmem.group_norm [[H]]
// NF4DQ-NEXT: [[Y:%.+]] = lowmem.qlinear [[N]], [[W1]] residual(%{{.+}} : tensor<?x8xf32>)
// NF4DQ-NEXT: return [[Y]]

// INT4-LABEL: func.func @forward
// INT4-SAME: [[W0:%[^:]+]]: !lowmem.qtensor<16x8xf32, int4, block = 32> {lowmem.param = "model.0.weight"}
// INT4-SAME: [[W1:%[^:]+]]: tensor<8x16xf32> {lowmem.param = "model.2.weight"}
// INT4-NEXT: lowmem.qlinear %{{.+}}, [[W0]] bias(%{{.+}} : tensor<16xf32>) activation <relu>
// INT4-NEXT: lowmem.group_norm
// INT4-NEXT: lowmem.linear %{{.+}}, [[W1]] residual(%{{.+}} : tensor<?x8xf32>)

// ERR: error: double quantization applies only to nf4 and fp4, not int8
func.func @forward(%x: tensor<?x8xf32> {lowmem.input = "x"},
    %w0: tensor<16x8xf32> {lowmem.param = "model.0.weight"},
    %b0: tensor<16xf32> {lowmem.param = "model.0.bias"},
    %g: tensor<16xf32> {lowmem.param = "model.1.weight"},
    %b: tensor<16xf32> {lowmem.param = "model.1.bias"},
    %w1: tensor<8x16xf32> {lowmem.param = "model.2.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w0 bias(%b0 : tensor<16xf32>) : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %1 = lowmem.relu %0 : tensor<?x16xf32>
  %2 = lowmem.group_norm %1, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x16xf32>, tensor<16xf32>, tensor<16xf32> -> tensor<?x16xf32>
  %3 = lowmem.linear %2, %w1 : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
  %4 = lowmem.add %x, %3 : tensor<?x8xf32>
  return %4 : tensor<?x8xf32>
}
