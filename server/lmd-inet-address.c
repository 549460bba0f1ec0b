/* SPDX-License-Identifier: MIT */
#include "lmd-inet-address.h"

#include <string.h>

/* An IPv4 range, or an IPv6 prefix that is internal or carries an IPv4 address. */
typedef struct {
  guint8 prefix[16];
  guint bits;
  gint embedded_v4; /* IPv6: offset of the IPv4 address inside, -1 = internal as a whole */
} Range;

/* IANA special-purpose IPv4 ranges that are not globally reachable (RFC 6890 and successors),
 * multicast and the reserved 240.0.0.0/4 (which holds 255.255.255.255). */
static const Range v4_internal[] = {
  { { 0 }, 8, -1 },                 /* "this network" */
  { { 10 }, 8, -1 },                /* private */
  { { 100, 64 }, 10, -1 },          /* shared address space (carrier-grade NAT) */
  { { 127 }, 8, -1 },               /* loopback */
  { { 169, 254 }, 16, -1 },         /* link-local */
  { { 172, 16 }, 12, -1 },          /* private */
  { { 192, 0, 0 }, 24, -1 },        /* IETF protocol assignments */
  { { 192, 0, 2 }, 24, -1 },        /* documentation */
  { { 192, 88, 99 }, 24, -1 },      /* 6to4 relay anycast (deprecated) */
  { { 192, 168 }, 16, -1 },         /* private */
  { { 198, 18 }, 15, -1 },          /* benchmarking */
  { { 198, 51, 100 }, 24, -1 },     /* documentation */
  { { 203, 0, 113 }, 24, -1 },      /* documentation */
  { { 224 }, 4, -1 },               /* multicast */
  { { 240 }, 4, -1 },               /* reserved, limited broadcast */
};

/* IPv6: the prefixes that carry an IPv4 address first, then the internal ones. */
static const Range v6_ranges[] = {
  { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 96, 12 },       /* IPv4-mapped */
  { { 0 }, 96, 12 },                                             /* IPv4-compatible, ::, ::1 */
  { { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0 }, 96, 12 },       /* IPv4-translated (SIIT) */
  { { 0, 0x64, 0xff, 0x9b }, 96, 12 },                           /* NAT64 well-known prefix */
  { { 0x20, 0x02 }, 16, 2 },                                     /* 6to4 */
  { { 0, 0x64, 0xff, 0x9b, 0, 1 }, 48, -1 },                     /* local-use NAT64 */
  { { 0x01 }, 64, -1 },                                          /* discard-only */
  { { 0x20, 0x01, 0 }, 23, -1 },                                 /* IETF protocol assignments (Teredo, ORCHID, ...) */
  { { 0x20, 0x01, 0x0d, 0xb8 }, 32, -1 },                        /* documentation */
  { { 0x3f, 0xff }, 20, -1 },                                    /* documentation */
  { { 0xfc }, 7, -1 },                                           /* unique local */
  { { 0xfe, 0x80 }, 10, -1 },                                    /* link-local */
  { { 0xfe, 0xc0 }, 10, -1 },                                    /* site-local (deprecated) */
  { { 0xff }, 8, -1 },                                           /* multicast */
};

static gboolean
has_prefix (const guint8 *bytes, const Range *range)
{
  guint whole = range->bits / 8, rest = range->bits % 8;

  if (memcmp (bytes, range->prefix, whole) != 0)
    return FALSE;
  return rest == 0 || ((bytes[whole] ^ range->prefix[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static gboolean
v4_is_internal (const guint8 *b)
{
  for (guint i = 0; i < G_N_ELEMENTS (v4_internal); i++)
    if (has_prefix (b, &v4_internal[i]))
      return TRUE;
  return FALSE;
}

gboolean
lmd_inet_address_is_internal (GInetAddress *addr)
{
  const guint8 *b = g_inet_address_to_bytes (addr);

  if (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4)
    return v4_is_internal (b);
  for (guint i = 0; i < G_N_ELEMENTS (v6_ranges); i++)
    if (has_prefix (b, &v6_ranges[i]))
      return v6_ranges[i].embedded_v4 < 0 || v4_is_internal (b + v6_ranges[i].embedded_v4);
  return FALSE;
}

/* One part of a numeric IPv4 host as inet_aton reads it: 0x… hexadecimal, 0… octal, else
 * decimal; FALSE when it is not a number or exceeds @max. */
static gboolean
parse_part (const char *text, gsize len, guint64 max, guint64 *out)
{
  guint base = 10;
  guint64 value = 0;
  gsize i = 0;

  if (len == 0)
    return FALSE;
  if (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    {
      base = 16;
      i = 2;
    }
  else if (len >= 2 && text[0] == '0')
    {
      base = 8;
      i = 1;
    }
  for (; i < len; i++)
    {
      int digit = g_ascii_xdigit_value (text[i]);
      if (digit < 0 || (guint) digit >= base)
        return FALSE;
      value = value * base + (guint) digit;
      if (value > max)
        return FALSE;
    }
  *out = value;
  return TRUE;
}

/* "a", "a.b", "a.b.c" or "a.b.c.d": the last part fills the bytes the others leave. */
static gboolean
parse_v4 (const char *host, guint8 out[4])
{
  g_auto (GStrv) parts = g_strsplit (host, ".", 5);
  guint n = g_strv_length (parts);
  guint64 value = 0;

  if (n < 1 || n > 4)
    return FALSE;
  for (guint i = 0; i + 1 < n; i++)
    {
      guint64 part;
      if (!parse_part (parts[i], strlen (parts[i]), 255, &part))
        return FALSE;
      value |= part << (8 * (3 - i));
    }
  {
    guint64 last, max = (G_GUINT64_CONSTANT (1) << (8 * (5 - n))) - 1;
    if (!parse_part (parts[n - 1], strlen (parts[n - 1]), max, &last))
      return FALSE;
    value |= last;
  }
  for (guint i = 0; i < 4; i++)
    out[i] = (guint8) (value >> (8 * (3 - i)));
  return TRUE;
}

GInetAddress *
lmd_inet_address_from_url_host (const char *host)
{
  g_autofree char *text = NULL;
  gsize len;
  guint8 v4[4];

  if (host == NULL || host[0] == '\0')
    return NULL;
  text = g_strdup (host);
  len = strlen (text);
  if (len > 1 && text[len - 1] == '.')
    text[len - 1] = '\0'; /* the root of the DNS: "127.0.0.1." */
  if (strchr (text, ':') != NULL)
    {
      char *zone = strchr (text, '%');
      if (zone != NULL)
        *zone = '\0';
      return g_inet_address_new_from_string (text);
    }
  if (parse_v4 (text, v4))
    return g_inet_address_new_from_bytes (v4, G_SOCKET_FAMILY_IPV4);
  return NULL;
}

gboolean
lmd_inet_address_host_is_internal (const char *host)
{
  g_autoptr (GInetAddress) addr = lmd_inet_address_from_url_host (host);
  g_autofree char *name = NULL;
  gsize len;

  if (addr != NULL)
    return lmd_inet_address_is_internal (addr);
  if (host == NULL || host[0] == '\0')
    return TRUE;
  name = g_ascii_strdown (host, -1);
  len = strlen (name);
  if (len > 1 && name[len - 1] == '.')
    name[len - 1] = '\0';
  return g_str_equal (name, "localhost") || g_str_has_suffix (name, ".localhost");
}
