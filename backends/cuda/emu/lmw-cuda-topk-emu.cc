/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-topk-emu.cc — the beam search's top-k kernel (lmw-cuda-topk.cu) built by the host
 * C++ compiler under the emulation of lmw-cuda-emu.h, as lmw-cuda-step-emu.cc builds the step.
 */
#define LMW_CUDA_EMU 1
#include "../lmw-cuda-topk.cu"
