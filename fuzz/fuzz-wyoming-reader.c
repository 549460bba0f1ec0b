/* SPDX-License-Identifier: MIT */
/*
 * fuzz-wyoming-reader.c — the Wyoming event reader (header line, data and payload) with the
 * default bounds.  The first input byte picks how the rest is cut into pushes (as TCP reads
 * would), so that events split across reads are covered too; events are read until the
 * reader needs more bytes or fails.
 */
#include "lmd-wyoming-event-reader.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const LmdWyomingBounds bounds = {
    .max_header_bytes = 65536, .max_data_bytes = 65536, .max_payload_bytes = 1048576,
  };
  g_autoptr (LmdWyomingEventReader) reader = lmd_wyoming_event_reader_new (&bounds);
  gsize chunk, offset = 0;
  gboolean failed = FALSE;

  if (size == 0)
    return 0;
  chunk = 1 + data[0] % 64;
  if (data[0] >= 192)
    chunk = size; /* one push */
  data++;
  size--;
  while (offset < size && !failed)
    {
      gsize n = MIN (chunk, size - offset);
      lmd_wyoming_event_reader_push (reader, data + offset, n);
      offset += n;
      for (;;)
        {
          g_autoptr (GError) error = NULL;
          g_autoptr (LmdWyomingEvent) event = lmd_wyoming_event_reader_next (reader, &error);
          if (event == NULL)
            {
              failed = error != NULL;
              break;
            }
        }
    }
  (void) lmd_wyoming_event_reader_get_pending (reader);
  return 0;
}
