/* SPDX-License-Identifier: MIT */
/*
 * lmd-config.h — the daemon's configuration: one GKeyFile.
 *
 * The daemon loads the key file (--config), then overlays environment variables, then
 * command-line flags, by writing them into the same key file; plugins only ever read it.
 * Groups: [server], [limits], [plugins], and one group per plugin, named after it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Typed look-ups that fall back to @fallback when the key is absent.  A key that is present
 * but malformed is an error (returned FALSE / set), so a typo in the config never goes unseen. */
gboolean lmd_config_get_int (GKeyFile *config, const char *group, const char *key,
                             gint64 fallback, gint64 *out, GError **error);
gboolean lmd_config_get_double (GKeyFile *config, const char *group, const char *key,
                                double fallback, double *out, GError **error);
gboolean lmd_config_get_boolean (GKeyFile *config, const char *group, const char *key,
                                 gboolean fallback, gboolean *out, GError **error);
/* (transfer full) the value, or a copy of @fallback (nullable) */
char *lmd_config_get_string (GKeyFile *config, const char *group, const char *key,
                             const char *fallback);
/* (transfer full) a list from a ';' or ',' separated value; empty when absent */
GStrv lmd_config_get_list (GKeyFile *config, const char *group, const char *key);

/* Parses a boolean as the API accepts it: true/false/1/0/yes/no (any case). */
gboolean lmd_parse_boolean (const char *text, gboolean *out);

/* Whether the bind address @host ([server] host, nullable) keeps the server on this machine:
 * a loopback literal (127.0.0.0/8, ::1, ::ffff:127.x.y.z) or "localhost".  An empty host, a
 * wildcard (0.0.0.0, ::) and any name or address beyond loopback are public. */
gboolean lmd_config_host_is_loopback (const char *host);

/* Directory of the running executable ("/proc/self/exe"), (transfer full), or NULL. */
char *lmd_config_executable_dir (void);
/* (transfer full) (nullable) the configuration file used when none is given: the source
 * tree's data/lightning-mediad.conf, then the installed one (datadir), then
 * ../share/lightning-mediad/ next to the executable; NULL when none exists. */
char *lmd_config_find_default (void);

G_END_DECLS
