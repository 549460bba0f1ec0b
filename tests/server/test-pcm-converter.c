/* SPDX-License-Identifier: MIT */
/*
 * test-pcm-converter.c — the live streams' PCM converter and its resampling tables: a table is
 * made once per ratio and shared (by converters on any thread), it is the table computed
 * afresh, the cache holds at most LMD_PCM_KERNEL_CACHE_MAX ratios, and converters of one ratio
 * turn a real recording into the same samples whatever the frame sizes.
 */
#include <string.h>

#include "lmd-pcm-converter.h"
#include "lmd-pcm-kernel.h"
#include "lmd-test-audio.h"

#define RECORDING "sense_and_sensibility_01_austen_64kb-0870"

static void
assert_same_values (LmdPcmKernel *a, LmdPcmKernel *b)
{
  gsize na = 0, nb = 0;
  const float *va = lmd_pcm_kernel_get_values (a, &na);
  const float *vb = lmd_pcm_kernel_get_values (b, &nb);

  g_assert_cmpuint (lmd_pcm_kernel_get_half (a), ==, lmd_pcm_kernel_get_half (b));
  g_assert_cmpuint (na, ==, nb);
  g_assert_cmpuint (na, ==, 2 * lmd_pcm_kernel_get_half (a) * LMD_PCM_KERNEL_PHASES + 2);
  g_assert_cmpmem (va, na * sizeof (float), vb, nb * sizeof (float));
}

/* Two requests for one ratio get the same table, which holds what a fresh computation gives. */
static void
test_kernel_shared (void)
{
  g_autoptr (LmdPcmKernel) a = lmd_pcm_kernel_get (48000, 16000);
  g_autoptr (LmdPcmKernel) b = lmd_pcm_kernel_get (48000, 16000);
  g_autoptr (LmdPcmKernel) fresh = lmd_pcm_kernel_new (48000, 16000);
  g_autoptr (LmdPcmKernel) other = lmd_pcm_kernel_get (8000, 16000);
  guint cached = lmd_pcm_kernel_cache_size ();

  g_assert_true (a == b);
  g_assert_true (fresh != a);
  assert_same_values (a, fresh);
  /* 48 kHz → 16 kHz: fc = 0.3, 40 input samples on each side */
  g_assert_cmpuint (lmd_pcm_kernel_get_half (a), ==, 40);
  g_assert_true (other != a);
  g_assert_cmpuint (lmd_pcm_kernel_get_half (other), ==, 14);
  /* asking again adds nothing */
  g_clear_pointer (&b, lmd_pcm_kernel_unref);
  b = lmd_pcm_kernel_get (48000, 16000);
  g_assert_true (a == b);
  g_assert_cmpuint (lmd_pcm_kernel_cache_size (), ==, cached);
}

/* Past LMD_PCM_KERNEL_CACHE_MAX ratios a converter gets a table of its own, the same values. */
static void
test_kernel_bounded (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (LmdPcmKernel) first = NULL;
      g_autoptr (LmdPcmKernel) past = NULL;
      g_autoptr (LmdPcmKernel) past_again = NULL;
      guint over = LMD_PCM_KERNEL_CACHE_MAX + 8;

      g_assert_cmpuint (lmd_pcm_kernel_cache_size (), ==, 0);
      for (guint i = 0; i < over; i++)
        lmd_pcm_kernel_unref (lmd_pcm_kernel_get (8000 + 1000 * i, 16000 + 7 * i));
      g_assert_cmpuint (lmd_pcm_kernel_cache_size (), ==, LMD_PCM_KERNEL_CACHE_MAX);
      first = lmd_pcm_kernel_get (8000, 16000);
      g_assert_true (first == lmd_pcm_kernel_get (8000, 16000));
      lmd_pcm_kernel_unref (first); /* the second reference */
      past = lmd_pcm_kernel_get (8000 + 1000 * (over - 1), 16000 + 7 * (over - 1));
      past_again = lmd_pcm_kernel_get (8000 + 1000 * (over - 1), 16000 + 7 * (over - 1));
      g_assert_true (past != past_again);
      assert_same_values (past, past_again);
      g_assert_cmpuint (lmd_pcm_kernel_cache_size (), ==, LMD_PCM_KERNEL_CACHE_MAX);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static GByteArray *
linear16 (const float *samples, gsize n)
{
  GByteArray *bytes = g_byte_array_sized_new ((guint) (2 * n));

  for (gsize i = 0; i < n; i++)
    {
      gint16 v = (gint16) CLAMP (samples[i] * 32767.0f, -32768.0f, 32767.0f);
      guint8 le[2] = { (guint8) (v & 0xff), (guint8) ((guint16) v >> 8) };
      g_byte_array_append (bytes, le, 2);
    }
  return bytes;
}

/* The recording through a converter @in_rate → @out_rate (linear16), in frames of @frame bytes. */
static GArray *
convert (GByteArray *pcm, guint in_rate, guint out_rate, gsize frame)
{
  g_autoptr (LmdPcmConverter) converter = lmd_pcm_converter_new (LMD_PCM_LINEAR16, in_rate, out_rate);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (float));

  for (gsize off = 0; off < pcm->len; off += frame)
    lmd_pcm_converter_push (converter, pcm->data + off, MIN (frame, pcm->len - off), out);
  lmd_pcm_converter_drain (converter, out);
  g_assert_cmpuint (lmd_pcm_converter_get_input_samples (converter), ==, pcm->len / 2);
  return out;
}

typedef struct {
  GByteArray *pcm;
  GArray *reference;
} ThreadCase;

static gpointer
convert_thread (gpointer data)
{
  ThreadCase *c = data;
  g_autoptr (GArray) out = convert (c->pcm, 16000, 8000, 640);

  g_assert_cmpuint (out->len, ==, c->reference->len);
  g_assert_cmpmem (out->data, out->len * sizeof (float), c->reference->data,
                   c->reference->len * sizeof (float));
  return NULL;
}

/* Converters of one ratio (sharing its table, on several threads at once) give the same
 * samples for a real recording, whatever the frame sizes; the output follows the ratio. */
static void
test_converter_same_output (void)
{
  gsize n = 0;
  g_autofree float *speech = lmd_test_librivox_read (RECORDING, &n);
  g_autoptr (GByteArray) pcm = NULL;
  g_autoptr (GArray) a = NULL;
  g_autoptr (GArray) b = NULL;
  g_autoptr (GArray) up = NULL;
  GThread *threads[4];
  ThreadCase c;
  double energy_in = 0, energy_out = 0;

  if (speech == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  pcm = linear16 (speech, n);
  a = convert (pcm, 16000, 8000, 640);
  b = convert (pcm, 16000, 8000, 7); /* samples split across frames */
  g_assert_cmpuint (a->len, ==, b->len);
  g_assert_cmpmem (a->data, a->len * sizeof (float), b->data, b->len * sizeof (float));
  g_assert_cmpint (ABS ((gint64) a->len - (gint64) (n / 2)), <=, 1);

  c.pcm = pcm;
  c.reference = a;
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("convert", convert_thread, &c);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  /* the speech is still there at 48 kHz: same energy per second within 10% */
  up = convert (pcm, 16000, 48000, 3200);
  g_assert_cmpint (ABS ((gint64) up->len - (gint64) (3 * n)), <=, 2);
  for (gsize i = 0; i < n; i++)
    energy_in += (double) speech[i] * speech[i];
  for (guint i = 0; i < up->len; i++)
    energy_out += (double) g_array_index (up, float, i) * g_array_index (up, float, i);
  g_assert_cmpfloat (energy_out / 3.0, >, 0.9 * energy_in);
  g_assert_cmpfloat (energy_out / 3.0, <, 1.1 * energy_in);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pcm-kernel/shared", test_kernel_shared);
  g_test_add_func ("/pcm-kernel/bounded", test_kernel_bounded);
  g_test_add_func ("/pcm-converter/same-output", test_converter_same_output);
  return g_test_run ();
}
