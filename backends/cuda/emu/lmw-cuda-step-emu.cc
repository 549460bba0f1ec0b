/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-step-emu.cc — the table-driven decoder step kernels (lmw-cuda-step.cu) built by the
 * host C++ compiler under the emulation of lmw-cuda-emu.h, as lmw-cuda-kernels-emu.cc builds
 * the others.
 */
#define LMW_CUDA_EMU 1
#include "../lmw-cuda-step.cu"
