// The umbrella header: everything a tapegrad user needs.
#pragma once
#include "tensor/error.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"
#include "tensor/tensor.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/gemm.h"
#include "autograd/ops.h"
