/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad-model.h — internal view of a loaded Silero model: the hyper-parameters and the
 * weights, every tensor f32 (the file's f16 weights are widened exactly) in one allocation.
 */
#ifndef LMW_VAD_MODEL_H
#define LMW_VAD_MODEL_H

#include "lmw-backend.h"
#include "lmw-vad.h"

#define LMW_VAD_N_LAYERS 4 /* the encoder's convolutions, kernel 3, strides 1 2 2 1 */

struct lmw_vad_model {
  char description[64];
  int window;       /* 512 samples per probability */
  int context;      /* 64: reflection padding on each side of a window */
  int n_fft;        /* 256: taps of the STFT basis; hop n_fft / 2 */
  int n_freq;       /* 129: n_fft / 2 + 1 bins (the basis has 2 * n_freq filters) */
  int n_frames;     /* 4: STFT frames of one padded window */
  int in_ch[LMW_VAD_N_LAYERS], out_ch[LMW_VAD_N_LAYERS];
  int hidden;       /* 128: LSTM width */

  lmw_weight stft;                    /* (2 * n_freq, n_fft): real filters, then imaginary */
  lmw_weight enc_w[LMW_VAD_N_LAYERS]; /* (out_ch, in_ch * 3), PyTorch's Conv1d layout */
  const float *enc_b[LMW_VAD_N_LAYERS];
  lmw_weight w_ih, w_hh;              /* (4 * hidden, hidden): gates i, f, g, o */
  const float *b_ih, *b_hh;           /* (4 * hidden) */
  const float *out_w;                 /* (hidden): the final 1x1 convolution */
  float out_b;

  float *arena; /* owned: every tensor above */
};

#endif /* LMW_VAD_MODEL_H */
