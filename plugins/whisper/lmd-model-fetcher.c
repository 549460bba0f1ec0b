/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-whisper"

#include "lmd-model-fetcher.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

char *
lmd_file_sha256 (const char *path, GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 buf[1 << 16];
  FILE *f = fopen (path, "rb");
  size_t n;

  if (f == NULL)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot read %s: %s", path,
                   g_strerror (errno));
      return NULL;
    }
  while ((n = fread (buf, 1, sizeof buf, f)) > 0)
    g_checksum_update (sum, buf, n);
  fclose (f);
  return g_strdup (g_checksum_get_string (sum));
}

typedef struct {
  FILE *out;
  GCancellable *cancellable;
  const char *url;
  curl_off_t resumed_from;
  gint64 last_log;
} Download;

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  Download *d = user_data;
  return fwrite (data, size, nmemb, d->out) * size;
}

static int
progress_cb (void *user_data, curl_off_t total, curl_off_t now, curl_off_t ultotal, curl_off_t ulnow)
{
  Download *d = user_data;
  gint64 t = g_get_monotonic_time ();

  if (g_cancellable_is_cancelled (d->cancellable))
    return 1;
  if (t - d->last_log >= 2 * G_USEC_PER_SEC && total > 0)
    {
      d->last_log = t;
      g_info ("downloading model: %.1f of %.1f MB (%.0f%%)", (d->resumed_from + now) / 1048576.0,
              (d->resumed_from + total) / 1048576.0, 100.0 * (d->resumed_from + now) / (d->resumed_from + total));
    }
  return 0;
}

gboolean
lmd_model_verify (const char *path, const char *sha256, GError **error)
{
  g_autofree char *actual = NULL;

  if (sha256 == NULL || sha256[0] == '\0')
    return TRUE;
  actual = lmd_file_sha256 (path, error);
  if (actual == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (actual, sha256) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the model at %s has SHA-256 %s, not the expected %s", path, actual, sha256);
      return FALSE;
    }
  return TRUE;
}

static char *
name_from_url (const char *url)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  const char *path = uri != NULL ? g_uri_get_path (uri) : NULL;
  g_autofree char *base = path != NULL && path[0] != '\0' ? g_path_get_basename (path) : NULL;

  if (base == NULL || g_str_equal (base, "/") || g_str_equal (base, ".") || base[0] == '.')
    return g_compute_checksum_for_string (G_CHECKSUM_SHA256, url, -1);
  return g_steal_pointer (&base);
}

char *
lmd_model_fetch (const char *url, const char *cache_dir, const char *sha256,
                 GCancellable *cancellable, GError **error)
{
  g_autofree char *name = NULL;
  g_autofree char *final_path = NULL;
  g_autofree char *part_path = NULL;
  Download d = { 0 };
  CURL *curl;
  CURLcode rc;
  long status = 0;
  char curl_error[CURL_ERROR_SIZE] = "";
  GStatBuf st;

  if (!g_str_has_prefix (url, "http://") && !g_str_has_prefix (url, "https://") &&
      !g_str_has_prefix (url, "file://"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "model URL %s: only http, https and file URLs are supported", url);
      return NULL;
    }
  if (g_mkdir_with_parents (cache_dir, 0755) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot create the model cache %s: %s", cache_dir, g_strerror (errno));
      return NULL;
    }
  name = name_from_url (url);
  final_path = g_build_filename (cache_dir, name, NULL);
  part_path = g_strconcat (final_path, ".part", NULL);

  if (g_file_test (final_path, G_FILE_TEST_IS_REGULAR))
    {
      if (lmd_model_verify (final_path, sha256, error))
        {
          g_info ("model %s: using the cached copy %s", url, final_path);
          return g_steal_pointer (&final_path);
        }
      g_warning ("cached model %s does not match its SHA-256; downloading it again", final_path);
      g_clear_error (error);
      g_unlink (final_path);
    }

  d.out = fopen (part_path, "ab");
  if (d.out == NULL)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s",
                   part_path, g_strerror (errno));
      return NULL;
    }
  d.resumed_from = g_stat (part_path, &st) == 0 ? (curl_off_t) st.st_size : 0;
  d.cancellable = cancellable;
  d.url = url;
  if (d.resumed_from > 0)
    g_info ("model %s: resuming the download at %.1f MB", url, d.resumed_from / 1048576.0);
  else
    g_info ("model %s: downloading into %s", url, cache_dir);

  curl = curl_easy_init ();
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* give up when stalled for 60 s */
  curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt (curl, CURLOPT_RESUME_FROM_LARGE, d.resumed_from);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, &d);
  curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
  curl_easy_setopt (curl, CURLOPT_XFERINFODATA, &d);
  curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
  rc = curl_easy_perform (curl);
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (curl);
  if (fclose (d.out) != 0 && rc == CURLE_OK)
    rc = CURLE_WRITE_ERROR;

  if (rc == CURLE_RANGE_ERROR || status == 416)
    {
      /* the server cannot resume: start over next time */
      g_unlink (part_path);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "model %s: the server refused to resume; retry", url);
      return NULL;
    }
  if (rc != CURLE_OK || (g_str_has_prefix (url, "http") && (status < 200 || status >= 300)))
    {
      if (rc == CURLE_OK)
        g_unlink (part_path); /* an error page, not the model */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "model %s: download failed: %s", url,
                   rc != CURLE_OK ? (curl_error[0] != '\0' ? curl_error : curl_easy_strerror (rc))
                                  : "the server answered an HTTP error");
      if (rc == CURLE_OK)
        {
          g_autofree char *msg = g_strdup_printf ("%s (HTTP %ld)", (*error)->message, status);
          g_free ((*error)->message);
          (*error)->message = g_steal_pointer (&msg);
        }
      return NULL;
    }
  if (!lmd_model_verify (part_path, sha256, error))
    {
      g_unlink (part_path);
      return NULL;
    }
  if (g_rename (part_path, final_path) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot rename %s: %s",
                   part_path, g_strerror (errno));
      return NULL;
    }
  g_info ("model %s: downloaded%s to %s", url, sha256 != NULL ? " and verified" : "", final_path);
  return g_steal_pointer (&final_path);
}
