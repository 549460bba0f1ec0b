/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-kernels-emu.cc — the CUDA kernels built by the host C++ compiler: the very source
 * nvcc compiles, under the emulation of lmw-cuda-emu.h (each CUDA thread a fiber, a launch a
 * loop over blocks).  The launchers keep their C names, so whatever links this library instead
 * of the nvcc build runs the same kernels on the CPU.
 */
#define LMW_CUDA_EMU 1
#include "../lmw-cuda-kernels.cu"
