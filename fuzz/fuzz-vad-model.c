/* SPDX-License-Identifier: MIT */
/*
 * fuzz-vad-model.c — the Silero VAD model loader (lmw_vad_model_load_buffer()): a model is
 * loaded and a state made for it, or refused with a message.
 */
#include "lmw-vad.h"

#include <assert.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  lmw_error err = { 0 };
  lmw_vad_model *model = lmw_vad_model_load_buffer (data, size, &err);

  if (model == NULL)
    {
      assert (err.code != LMW_OK && err.message[0] != '\0');
      return 0;
    }
  lmw_vad_state *state = lmw_vad_state_new (model, &err);
  lmw_vad_state_free (state);
  lmw_vad_model_free (model);
  return 0;
}
