/* SPDX-License-Identifier: MIT */
/*
 * lmd-inet-address.h — which addresses a URL given by a client may reach.
 *
 * One classifier for every address the server connects to on a client's behalf (audio URLs,
 * callback URLs, each redirect and each address a name resolves to): loopback, private,
 * shared, link-local, multicast, reserved, documentation and benchmarking ranges are
 * internal; an IPv6 address that carries an IPv4 one (IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96, IPv4-translated ::ffff:0:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16)
 * is judged by the IPv4 address inside; Teredo, the local-use NAT64 prefix and the other IPv6
 * special-purpose ranges are internal.
 *
 * Host names in URLs are read as the system's resolver reads them: "127.1", "2130706433",
 * "0x7f.0.0.1" and "0177.0.0.1" are numeric IPv4 addresses (inet_aton forms), a final dot is
 * dropped ("localhost."), and an IPv6 literal's zone ("%eth0") is ignored.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Whether @addr is internal (see above). */
gboolean lmd_inet_address_is_internal (GInetAddress *addr);

/* (transfer full) (nullable) the address a URL's host (without brackets) names when it is a
 * numeric literal in any form the resolver accepts; NULL for a name. */
GInetAddress *lmd_inet_address_from_url_host (const char *host);

/* Whether the URL host @host (without brackets) is internal without any look-up: an internal
 * address in any numeric form, or "localhost" or a name under it (with or without a final
 * dot).  Other names are checked when they are resolved (lmd_inet_address_is_internal()). */
gboolean lmd_inet_address_host_is_internal (const char *host);

G_END_DECLS
