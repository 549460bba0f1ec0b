/* SPDX-License-Identifier: MIT */
/*
 * fuzz-url-host.c — the address rules for callback and audio URLs (lmd-inet-address.c and
 * lmd_url_check_destination()), none of which does network I/O.  The input is used both as a
 * URL host (every numeric form the resolver reads) and as a whole URL.
 */
#include "lmd-inet-address.h"
#include "lmd-url-fetcher.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GInetAddress) addr = lmd_inet_address_from_url_host (text);
  gboolean internal = lmd_inet_address_host_is_internal (text);

  /* a host that parses to an internal address is internal as text too */
  if (addr != NULL && lmd_inet_address_is_internal (addr))
    g_assert (internal);

  for (int allow_private = 0; allow_private <= 1; allow_private++)
    {
      g_autoptr (GError) error = NULL;
      if (!lmd_url_check_destination (text, allow_private, "callback_url", &error))
        g_assert (error != NULL && strstr (error->message, "callback_url") != NULL);
      else
        g_assert (error == NULL);
    }
  return 0;
}
