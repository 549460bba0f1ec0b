/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-mel-emu.cc — the log-mel kernel (lmw-cuda-mel.cu) built by the host C++ compiler
 * under the emulation of lmw-cuda-emu.h, as lmw-cuda-kernels-emu.cc builds the other kernels.
 */
#define LMW_CUDA_EMU 1
#include "../lmw-cuda-mel.cu"
