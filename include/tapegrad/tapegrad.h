// The umbrella header: everything a tapegrad user needs.
#pragma once
#include "tensor/error.h"
#include "tensor/parallel.h"
#include "tensor/gemm.h"
