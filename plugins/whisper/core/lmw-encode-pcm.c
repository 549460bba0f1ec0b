/* SPDX-License-Identifier: MIT */
/*
 * lmw-encode-pcm.c — the encoder fed with samples: the log-mel front end runs on the backend
 * (lmw_backend_ops.log_mel), so with the CUDA backend a window's samples are what crosses the
 * bus, not its spectrogram, and the spectrogram is computed on the GPU.
 *
 * The spectrogram is normalised with the largest value of the whole signal, so a signal takes
 * two passes: lmw_mel_max_pass over every frame (nothing kept but the maximum, in backend
 * memory), then lmw_encode_pcm per window.  A scheduler's slot runs its front end on its own
 * backend context (its own stream), waits for it, and hands the window to the scheduler,
 * whose batched encoder reads the frames where they are (slot->mel_dev).
 */
#include "lmw-context.h"
#include "lmw-state.h"

#include <math.h>

static int
upload_samples (lmw_state *st, const float *pcm, size_t n_pcm, lmw_error *err)
{
  const lmw_hparams *hp = &st->model->hp;
  if (st->pcm_dev == NULL) {
    lmw_set_error (err, LMW_ERR_ARG, "the %s backend has no front end", st->ops->name);
    return -1;
  }
  if (n_pcm > (size_t) 2 * hp->n_audio_ctx * LMW_HOP + LMW_N_FFT || (pcm == NULL && n_pcm > 0)) {
    lmw_set_error (err, LMW_ERR_ARG, "front end: %zu samples for one window", n_pcm);
    return -1;
  }
  if (n_pcm > 0)
    st->ops->upload (st->be, st->pcm_dev, pcm, sizeof (float) * n_pcm);
  return 0;
}

int
lmw_mel_max_pass (lmw_state *st, const float *pcm, size_t pcm_base, size_t n_pcm,
                  size_t n_samples, size_t n_total, int f0, int f1, bool reset, lmw_error *err)
{
  const lmw_hparams *hp = &st->model->hp;
  if (f0 < 0 || f1 < f0 || f1 - f0 > 2 * hp->n_audio_ctx || n_samples > n_total) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_mel_max_pass: invalid arguments");
    return -1;
  }
  if (upload_samples (st, pcm, n_pcm, err) != 0)
    return -1;
  if (reset) {
    float ninf = -INFINITY;
    st->ops->upload (st->be, st->mel_max, &ninf, sizeof ninf);
  }
  st->ops->log_mel (st->be, NULL, 0, st->mel_max, st->pcm_dev, pcm_base, n_pcm, n_samples,
                    n_total, st->dm->mel_filters, hp->n_mels, f0, f1);
  return lmw_state_check (st, "the spectrogram's maximum", err);
}

int
lmw_encode_pcm (lmw_state *st, const float *pcm, size_t pcm_base, size_t n_pcm,
                size_t n_samples, size_t n_total, int seek, int f1, lmw_error *err)
{
  const lmw_hparams *hp = &st->model->hp;
  int Tm = 2 * hp->n_audio_ctx;
  if (seek < 0 || f1 < seek || f1 - seek > Tm || n_samples > n_total) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_encode_pcm: invalid arguments");
    return -1;
  }
  if (upload_samples (st, pcm, n_pcm, err) != 0)
    return -1;
  st->ops->log_mel (st->be, st->mel_dev, Tm, st->mel_max, st->pcm_dev, pcm_base, n_pcm,
                    n_samples, n_total, st->dm->mel_filters, hp->n_mels, seek, f1);
  st->mel_on_dev = true;
  if (st->sched != NULL) {
    /* the scheduler's stream reads mel_dev: it must be complete on this context's */
    st->ops->sync (st->be);
    if (lmw_state_check (st, "the spectrogram", err) != 0)
      return -1;
    return lmw_scheduler_encode (st->sched, st, err);
  }
  return lmw_encoder_forward (st, err);
}
