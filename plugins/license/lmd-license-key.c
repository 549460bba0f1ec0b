/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-key.c — parsing, verifying and signing license keys (format in the header).
 *
 * Parsing never trusts the input: the length and alphabet are checked before anything is
 * decoded, the nesting depth before JSON is parsed, and each member's type and range before
 * it is copied.  Only then, and only if asked, is the signature checked.
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-key.h"

#include <json-glib/json-glib.h>
#include <sodium.h>
#include <string.h>

#include "lmd-json.h"

G_DEFINE_QUARK (lmd-license-key-error-quark, lmd_license_key_error)

#define MAX_KEY_ID 64
#define MAX_LICENSEE 256

static void
license_key_clear (LmdLicenseKey *self)
{
  g_free (self->key_id);
  g_free (self->licensee);
  g_free (self->signer_id);
  g_strfreev (self->features);
  g_free (self->signed_part);
}

LmdLicenseKey *
lmd_license_key_new (void)
{
  LmdLicenseKey *self = g_atomic_rc_box_new0 (LmdLicenseKey);

  self->version = 1;
  self->features = g_new0 (char *, 1);
  return self;
}

LmdLicenseKey *
lmd_license_key_ref (LmdLicenseKey *self)
{
  return g_atomic_rc_box_acquire (self);
}

void
lmd_license_key_unref (LmdLicenseKey *self)
{
  g_atomic_rc_box_release_full (self, (GDestroyNotify) license_key_clear);
}

static gboolean
malformed (GError **error, const char *why)
{
  g_set_error (error, LMD_LICENSE_KEY_ERROR, LMD_LICENSE_KEY_ERROR_MALFORMED,
               "malformed license key: %s", why);
  return FALSE;
}

static gboolean
is_key_char (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.';
}

static gboolean
key_id_is_valid (const char *s)
{
  gsize len = strlen (s);

  if (len == 0 || len > MAX_KEY_ID)
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_isalnum (*s) && strchr ("-_.:", *s) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
licensee_is_valid (const char *s)
{
  gsize len = strlen (s);

  if (len == 0 || len > MAX_LICENSEE || !g_utf8_validate (s, -1, NULL))
    return FALSE;
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

gboolean
lmd_license_feature_name_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 32)
    return FALSE;
  for (; *name != '\0'; name++)
    if (!g_ascii_islower (*name) && !g_ascii_isdigit (*name) && *name != '_' && *name != '-')
      return FALSE;
  return TRUE;
}

static gboolean
signer_id_is_valid (const char *s)
{
  if (strlen (s) != LMD_LICENSE_SIGNER_ID_LENGTH)
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_isdigit (*s) && !(*s >= 'a' && *s <= 'f'))
      return FALSE;
  return TRUE;
}

/* Member @name as an integer in [min, max]; absent → @fallback, or an error when @required. */
static gboolean
get_int (JsonObject *obj, const char *name, gboolean required, gint64 min, gint64 max,
         gint64 fallback, gint64 *out, GError **error)
{
  JsonNode *node = json_object_get_member (obj, name);
  gint64 v;

  if (node == NULL)
    {
      if (required)
        {
          g_autofree char *why = g_strdup_printf ("'%s' is missing", name);
          return malformed (error, why);
        }
      *out = fallback;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_autofree char *why = g_strdup_printf ("'%s' is not an integer", name);
      return malformed (error, why);
    }
  v = json_node_get_int (node);
  if (v < min || v > max)
    {
      g_autofree char *why = g_strdup_printf ("'%s' is out of range", name);
      return malformed (error, why);
    }
  *out = v;
  return TRUE;
}

static const char *
get_string (JsonObject *obj, const char *name, GError **error)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_autofree char *why = g_strdup_printf ("'%s' is missing or not a string", name);
      malformed (error, why);
      return NULL;
    }
  return json_node_get_string (node);
}

/* unix seconds from 2000 to 2200: anything else is a mistake */
#define TIME_MIN G_GINT64_CONSTANT (946684800)
#define TIME_MAX G_GINT64_CONSTANT (7258118400)
#define LIMIT_MAX G_GINT64_CONSTANT (1000000000)

static gboolean
read_payload (LmdLicenseKey *key, JsonObject *obj, GError **error)
{
  gint64 v;
  const char *s;
  JsonNode *node;

  if (!get_int (obj, "v", TRUE, 1, 1, 1, &v, error))
    return FALSE;
  key->version = (guint) v;
  if ((s = get_string (obj, "kid", error)) == NULL)
    return FALSE;
  if (!key_id_is_valid (s))
    return malformed (error, "'kid' is not a valid key id");
  key->key_id = g_strdup (s);
  if ((s = get_string (obj, "sub", error)) == NULL)
    return FALSE;
  if (!licensee_is_valid (s))
    return malformed (error, "'sub' is not a valid licensee name");
  key->licensee = g_strdup (s);
  if ((s = get_string (obj, "iss", error)) == NULL)
    return FALSE;
  if (!signer_id_is_valid (s))
    return malformed (error, "'iss' is not a signer id");
  key->signer_id = g_strdup (s);
  if (!get_int (obj, "iat", TRUE, TIME_MIN, TIME_MAX, 0, &key->issued_at, error)
      || !get_int (obj, "nbf", FALSE, TIME_MIN, TIME_MAX, key->issued_at, &key->not_before, error)
      || !get_int (obj, "exp", TRUE, TIME_MIN, TIME_MAX, 0, &key->expires_at, error))
    return FALSE;
  if (key->expires_at <= key->not_before)
    return malformed (error, "'exp' is not after 'nbf'");

  node = json_object_get_member (obj, "features");
  if (node != NULL)
    {
      JsonArray *array;
      guint n;
      GPtrArray *features;

      if (!JSON_NODE_HOLDS_ARRAY (node))
        return malformed (error, "'features' is not an array");
      array = json_node_get_array (node);
      n = json_array_get_length (array);
      if (n > LMD_LICENSE_KEY_MAX_FEATURES)
        return malformed (error, "too many features");
      features = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; i < n; i++)
        {
          JsonNode *item = json_array_get_element (array, i);
          if (!JSON_NODE_HOLDS_VALUE (item) || json_node_get_value_type (item) != G_TYPE_STRING
              || !lmd_license_feature_name_is_valid (json_node_get_string (item)))
            {
              g_ptr_array_unref (features);
              return malformed (error, "'features' holds something that is not a feature name");
            }
          g_ptr_array_add (features, g_strdup (json_node_get_string (item)));
        }
      g_ptr_array_add (features, NULL);
      g_strfreev (key->features);
      key->features = (GStrv) g_ptr_array_free (features, FALSE);
    }

  node = json_object_get_member (obj, "limits");
  if (node != NULL)
    {
      JsonObject *limits;
      JsonNode *hours;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return malformed (error, "'limits' is not an object");
      limits = json_node_get_object (node);
      if (!get_int (limits, "rpm", FALSE, 0, LIMIT_MAX, 0, &key->limits.rpm, error)
          || !get_int (limits, "concurrency", FALSE, 0, LIMIT_MAX, 0, &key->limits.concurrency,
                       error))
        return FALSE;
      hours = json_object_get_member (limits, "audio_hours_per_day");
      if (hours != NULL)
        {
          GType type = JSON_NODE_HOLDS_VALUE (hours) ? json_node_get_value_type (hours) : G_TYPE_INVALID;
          double h;
          if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
            return malformed (error, "'audio_hours_per_day' is not a number");
          h = json_node_get_double (hours);
          if (!(h >= 0 && h <= 24.0 * 1000000))
            return malformed (error, "'audio_hours_per_day' is out of range");
          key->limits.audio_hours_per_day = h;
        }
    }
  return TRUE;
}

LmdLicenseKey *
lmd_license_key_parse (const char *text, GError **error)
{
  g_autoptr (LmdLicenseKey) key = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree guint8 *payload = NULL;
  g_autofree guint8 *signature = NULL;
  g_autoptr (GError) json_error = NULL;
  gsize len, payload_len = 0, signature_len = 0;
  const char *body, *dot, *sig;

  g_return_val_if_fail (text != NULL, NULL);
  len = strnlen (text, LMD_LICENSE_KEY_MAX_LENGTH + 1);
  if (len == 0)
    return malformed (error, "empty"), NULL;
  if (len > LMD_LICENSE_KEY_MAX_LENGTH)
    return malformed (error, "too long"), NULL;
  for (gsize i = 0; i < len; i++)
    if (!is_key_char (text[i]))
      return malformed (error, "unexpected character"), NULL;
  if (!g_str_has_prefix (text, LMD_LICENSE_KEY_PREFIX))
    return malformed (error, "unknown format or version (expected 'lmd1.')"), NULL;
  body = text + strlen (LMD_LICENSE_KEY_PREFIX);
  dot = strchr (body, '.');
  if (dot == NULL || strchr (dot + 1, '.') != NULL)
    return malformed (error, "expected three dot-separated parts"), NULL;
  sig = dot + 1;
  payload = lmd_license_base64url_decode (body, (gsize) (dot - body), LMD_LICENSE_KEY_MAX_PAYLOAD,
                                          &payload_len);
  if (payload == NULL)
    return malformed (error, "the payload is not base64url or too long"), NULL;
  signature = lmd_license_base64url_decode (sig, strlen (sig), LMD_LICENSE_SIGNATURE_BYTES,
                                            &signature_len);
  if (signature == NULL || signature_len != LMD_LICENSE_SIGNATURE_BYTES)
    return malformed (error, "the signature is not 64 bytes of base64url"), NULL;
  if (memchr (payload, '\0', payload_len) != NULL
      || !g_utf8_validate ((const char *) payload, (gssize) payload_len, NULL))
    return malformed (error, "the payload is not UTF-8 text"), NULL;
  root = lmd_json_parse_bounded ((const char *) payload, (gssize) payload_len,
                                 LMD_JSON_MAX_RECORD_BYTES, LMD_LICENSE_KEY_MAX_DEPTH, &json_error);
  if (root == NULL && g_error_matches (json_error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP))
    return malformed (error, "the payload is nested too deeply"), NULL;
  if (root == NULL)
    return malformed (error, "the payload is not JSON"), NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return malformed (error, "the payload is not a JSON object"), NULL;

  key = lmd_license_key_new ();
  if (!read_payload (key, json_node_get_object (root), error))
    return NULL;
  key->signed_part = g_strndup (text, (gsize) (dot - text));
  memcpy (key->signature, signature, LMD_LICENSE_SIGNATURE_BYTES);
  return g_steal_pointer (&key);
}

gboolean
lmd_license_key_check_time (LmdLicenseKey *self, gint64 now, GError **error)
{
  if (now < self->not_before - LMD_LICENSE_KEY_CLOCK_SKEW_S)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (self->not_before);
      g_autofree char *when = t != NULL ? g_date_time_format_iso8601 (t) : NULL;
      g_set_error (error, LMD_LICENSE_KEY_ERROR, LMD_LICENSE_KEY_ERROR_NOT_YET_VALID,
                   "the license key is not valid before %s", when != NULL ? when : "?");
      return FALSE;
    }
  if (now >= self->expires_at)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (self->expires_at);
      g_autofree char *when = t != NULL ? g_date_time_format_iso8601 (t) : NULL;
      g_set_error (error, LMD_LICENSE_KEY_ERROR, LMD_LICENSE_KEY_ERROR_EXPIRED,
                   "the license key expired at %s", when != NULL ? when : "?");
      return FALSE;
    }
  return TRUE;
}

gboolean
lmd_license_key_verify (LmdLicenseKey *self, LmdLicenseKeyring *keyring, gint64 now,
                        GError **error)
{
  const guint8 *public_key;

  g_return_val_if_fail (self != NULL && keyring != NULL, FALSE);
  if (self->signed_part == NULL)
    return malformed (error, "not signed");
  public_key = lmd_license_keyring_lookup (keyring, self->signer_id);
  if (public_key == NULL)
    {
      g_set_error (error, LMD_LICENSE_KEY_ERROR, LMD_LICENSE_KEY_ERROR_UNKNOWN_SIGNER,
                   "the license key was signed by a key this server does not trust (signer %s)",
                   self->signer_id);
      return FALSE;
    }
  if (crypto_sign_verify_detached (self->signature, (const guint8 *) self->signed_part,
                                   strlen (self->signed_part), public_key) != 0)
    {
      g_set_error (error, LMD_LICENSE_KEY_ERROR, LMD_LICENSE_KEY_ERROR_BAD_SIGNATURE,
                   "the license key's signature does not match: it was altered or is corrupt");
      return FALSE;
    }
  return lmd_license_key_check_time (self, now, error);
}

static JsonNode *
build_payload (LmdLicenseKey *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "v");
  json_builder_add_int_value (b, self->version);
  json_builder_set_member_name (b, "kid");
  json_builder_add_string_value (b, self->key_id);
  json_builder_set_member_name (b, "sub");
  json_builder_add_string_value (b, self->licensee);
  json_builder_set_member_name (b, "iss");
  json_builder_add_string_value (b, self->signer_id != NULL ? self->signer_id : "");
  json_builder_set_member_name (b, "iat");
  json_builder_add_int_value (b, self->issued_at);
  json_builder_set_member_name (b, "nbf");
  json_builder_add_int_value (b, self->not_before);
  json_builder_set_member_name (b, "exp");
  json_builder_add_int_value (b, self->expires_at);
  json_builder_set_member_name (b, "features");
  json_builder_begin_array (b);
  for (guint i = 0; self->features[i] != NULL; i++)
    json_builder_add_string_value (b, self->features[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "limits");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "rpm");
  json_builder_add_int_value (b, self->limits.rpm);
  json_builder_set_member_name (b, "concurrency");
  json_builder_add_int_value (b, self->limits.concurrency);
  json_builder_set_member_name (b, "audio_hours_per_day");
  if (self->limits.audio_hours_per_day == (double) (gint64) self->limits.audio_hours_per_day)
    json_builder_add_int_value (b, (gint64) self->limits.audio_hours_per_day);
  else
    json_builder_add_double_value (b, self->limits.audio_hours_per_day);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static char *
payload_to_string (LmdLicenseKey *self, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = build_payload (self);

  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, pretty);
  return json_generator_to_data (gen, NULL);
}

char *
lmd_license_key_to_json (LmdLicenseKey *self)
{
  return payload_to_string (self, TRUE);
}

gboolean
lmd_license_key_has_feature (LmdLicenseKey *self, const char *feature)
{
  if (feature == NULL || g_str_equal (feature, "batch") || self->features[0] == NULL)
    return TRUE;
  return g_strv_contains ((const char *const *) self->features, feature);
}

char *
lmd_license_key_sign (LmdLicenseKey *self, LmdLicenseSigningKey *signing_key, GError **error)
{
  g_autofree char *payload = NULL;
  g_autofree char *b64 = NULL;
  g_autofree char *sig64 = NULL;
  g_autoptr (LmdLicenseKey) check = NULL;
  char *text;

  g_return_val_if_fail (self != NULL && signing_key != NULL, NULL);
  if (self->key_id == NULL || !key_id_is_valid (self->key_id))
    return malformed (error, "the key id must be 1-64 characters of [A-Za-z0-9_.:-]"), NULL;
  if (self->licensee == NULL || !licensee_is_valid (self->licensee))
    return malformed (error, "the licensee must be 1-256 bytes of printable UTF-8"), NULL;
  for (guint i = 0; self->features[i] != NULL; i++)
    if (!lmd_license_feature_name_is_valid (self->features[i]))
      return malformed (error, "feature names are 1-32 characters of [a-z0-9_-]"), NULL;
  if (g_strv_length (self->features) > LMD_LICENSE_KEY_MAX_FEATURES)
    return malformed (error, "too many features"), NULL;

  g_free (self->signer_id);
  self->signer_id = lmd_license_signer_id (lmd_license_signing_key_get_public_key (signing_key));
  payload = payload_to_string (self, FALSE);
  if (strlen (payload) > LMD_LICENSE_KEY_MAX_PAYLOAD)
    return malformed (error, "the terms are too long"), NULL;
  b64 = lmd_license_base64url_encode ((const guint8 *) payload, strlen (payload));
  g_free (self->signed_part);
  self->signed_part = g_strconcat (LMD_LICENSE_KEY_PREFIX, b64, NULL);
  lmd_license_signing_key_sign (signing_key, (const guint8 *) self->signed_part,
                                strlen (self->signed_part), self->signature);
  sig64 = lmd_license_base64url_encode (self->signature, LMD_LICENSE_SIGNATURE_BYTES);
  text = g_strconcat (self->signed_part, ".", sig64, NULL);

  /* what we issue must be what we accept */
  check = lmd_license_key_parse (text, error);
  if (check == NULL)
    {
      g_free (text);
      return NULL;
    }
  return text;
}
