/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-deepgram-dialect.c — Deepgram's prerecorded POST /v1/listen.
 *
 * Request: the body as raw bytes (application/octet-stream, audio/..., deepgram/audio+video,
 * or any other type), or application/json {"url"}; options in the query, Deepgram's names:
 *   model           mapped (lmd_http_deepgram_map_model())
 *   language        "en-US" → "en" (the part before "-"); "multi" → "auto"
 *   detect_language true → language "auto"; the answer carries detected_language
 *   keyterm, keywords (repeatable; "word:boost" loses its boost) → the whisper prompt,
 *                   after the request's own prompt, joined with ", " within
 *                   LMD_TRANSCRIBE_PROMPT_MAX bytes
 *   utterances, utt_split, paragraphs, punctuate, smart_format, diarize: shape the answer
 *   multichannel    true → each input channel on its own session, one results.channels entry
 *                   each (LmdTranscribeOptions.multichannel)
 *   callback, callback_method (post|put): an asynchronous job (lmd-http-jobs.c) answered
 *                   200 {"request_id"}; the job carries this dialect's result format
 *                   ("deepgram", lmd-job-format.h) with the raw query as its arguments, so the
 *                   callback body is the answer below (or the error document) with the same
 *                   request id
 *   anything else:  accepted and ignored.
 * Answer 200:
 *   {"metadata":{"transaction_key":"deprecated","request_id","sha256" (of the audio transcribed:
 *                the body, or the bytes fetched for {"url"}),"created","duration",
 *                "channels" (1, or the input's with multichannel),"models":[uuid],"model_info":{uuid:{"name","version","arch"}}},
 *    "results":{"channels":[{"alternatives":[{"transcript","confidence",
 *                 "words":[{"word","start","end","confidence","punctuated_word"}]
 *                 [,"paragraphs":{"transcript","paragraphs":[{"sentences":[{"text","start","end"}],
 *                                  "num_words","start","end"}]}]}]
 *                 [,"detected_language","language_confidence"]}]
 *               [,"utterances":[{"start","end","confidence","channel","transcript","words",
 *                                "speaker","id"}]]}}
 * Errors: {"err_code","err_msg","request_id"} with the status of the error table, and
 * Retry-After on 429/503.  Request ids are UUIDs (the client's X-Request-ID when it is one),
 * also sent as dg-request-id.
 */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-deepgram-dialect.h"

#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-http-request-parser.h"
#include "lmd-http-response.h"
#include "lmd-job-format.h"
#include "lmd-log.h"
#include "lmd-json-writer.h"
#include "lmd-url-fetcher.h"

typedef enum {
  LISTEN_DIALECT_AUTO,
  LISTEN_DIALECT_DEEPGRAM,
  LISTEN_DIALECT_OWN,
} ListenDialect;

/* [deepgram]: process-wide, written once by the transport's setup before it listens */
static struct {
  ListenDialect listen_dialect;
  char *default_model;  /* owned, nullable */
  GHashTable *models;   /* owned, nullable: Deepgram name → engine model */
} settings;

/* Options only Deepgram has: one of them in the query makes a request Deepgram's ("auto"). */
static const char *const deepgram_only_options[] = {
  "smart_format", "utterances", "utt_split", "paragraphs", "keyterm", "keywords",
  "detect_language", "multichannel", "callback", "callback_method", "tier", "version",
  "filler_words", "numerals", "profanity_filter", "redact", "search", "replace", "tag",
  "extra", "mip_opt_out", "dictation", "measurements", "summarize", "topics", "intents",
  "sentiment", "detect_entities", "custom_topic", "custom_intent", "diarize_model",
  "alternatives", "channels", "endpointing", "utterance_end_ms", "vad_events", "no_delay",
};

static const LmdJobFormat deepgram_job_format;

gboolean
lmd_http_deepgram_dialect_configure (GKeyFile *config, GError **error)
{
  g_autofree char *dialect = NULL;
  g_auto (GStrv) pairs = NULL;
  gsize n = 0;

  dialect = g_key_file_get_string (config, "deepgram", "listen_dialect", NULL);
  if (dialect == NULL || g_str_equal (dialect, "auto"))
    settings.listen_dialect = LISTEN_DIALECT_AUTO;
  else if (g_str_equal (dialect, "deepgram"))
    settings.listen_dialect = LISTEN_DIALECT_DEEPGRAM;
  else if (g_str_equal (dialect, "own"))
    settings.listen_dialect = LISTEN_DIALECT_OWN;
  else
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [deepgram] listen_dialect: '%s' is not one of auto, deepgram, own", dialect);
      return FALSE;
    }
  g_clear_pointer (&settings.default_model, g_free);
  settings.default_model = g_key_file_get_string (config, "deepgram", "default_model", NULL);
  if (settings.default_model != NULL)
    g_strstrip (settings.default_model);
  if (settings.default_model != NULL && settings.default_model[0] == '\0')
    g_clear_pointer (&settings.default_model, g_free);
  g_clear_pointer (&settings.models, g_hash_table_unref);
  pairs = g_key_file_get_string_list (config, "deepgram", "models", &n, NULL);
  for (gsize i = 0; pairs != NULL && i < n; i++)
    {
      char *item = g_strstrip (pairs[i]);
      char *colon = strchr (item, ':');

      if (item[0] == '\0')
        continue;
      if (colon == NULL || colon == item || colon[1] == '\0')
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "config [deepgram] models: '%s' is not deepgram-name:model", item);
          return FALSE;
        }
      *colon = '\0';
      if (settings.models == NULL)
        settings.models = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_replace (settings.models, g_strdup (g_strstrip (item)), g_strdup (g_strstrip (colon + 1)));
    }
  /* jobs accepted with a callback are answered in this dialect's shape by whichever process
   * runs them: every process with the HTTP transport knows the format */
  lmd_job_format_register (&deepgram_job_format);
  return TRUE;
}

gboolean
lmd_http_deepgram_is_model_name (const char *model)
{
  static const char *const families[] = { "nova", "enhanced", "base", "general", "phonecall",
                                          "meeting", "voicemail", "finance", "conversationalai",
                                          "video", "medical", "drivethru", "automotive" };

  if (model == NULL)
    return FALSE;
  if (settings.models != NULL && g_hash_table_contains (settings.models, model))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    if (g_str_has_prefix (model, families[i]))
      return TRUE;
  return FALSE;
}

const char *
lmd_http_deepgram_map_model (LmdRouter *router, const char *requested)
{
  const char *mapped;

  if (requested != NULL && !lmd_http_deepgram_is_model_name (requested) &&
      (router == NULL || lmd_router_find_engine (router, requested) != NULL))
    return requested;
  if (requested != NULL && settings.models != NULL &&
      (mapped = g_hash_table_lookup (settings.models, requested)) != NULL)
    return mapped;
  return settings.default_model;
}

char *
lmd_http_deepgram_model_uuid (const char *model_name)
{
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, model_name != NULL ? model_name : "", -1);

  /* the layout of a name-based UUID (version 5, RFC 4122 variant) */
  return g_strdup_printf ("%.8s-%.4s-5%.3s-%c%.3s-%.12s", hex, hex + 8, hex + 13,
                          "89ab"[g_ascii_xdigit_value (hex[16]) & 3], hex + 17, hex + 20);
}

static gboolean
deepgram_claims (SoupMessageHeaders *headers, GHashTable *query)
{
  const char *value;

  if (settings.listen_dialect != LISTEN_DIALECT_AUTO)
    return settings.listen_dialect == LISTEN_DIALECT_DEEPGRAM;
  if (headers != NULL)
    {
      const char *type = soup_message_headers_get_content_type (headers, NULL);

      if ((value = soup_message_headers_get_one (headers, "X-Fern-SDK-Name")) != NULL &&
          g_strrstr (value, "deepgram") != NULL)
        return TRUE;
      if ((value = soup_message_headers_get_one (headers, "User-Agent")) != NULL)
        {
          g_autofree char *lower = g_ascii_strdown (value, -1);
          if (strstr (lower, "deepgram") != NULL)
            return TRUE;
        }
      if (type != NULL && g_ascii_strcasecmp (type, "deepgram/audio+video") == 0)
        return TRUE;
    }
  if (query == NULL)
    return FALSE;
  if (lmd_http_deepgram_is_model_name (g_hash_table_lookup (query, "model")))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (deepgram_only_options); i++)
    if (g_hash_table_contains (query, deepgram_only_options[i]))
      return TRUE;
  return FALSE;
}

/* Every value of @key in the raw query @raw (repeated keys are lists), in order. */
static GPtrArray *
query_values (const char *raw, const char *key)
{
  GPtrArray *values = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) pairs = raw != NULL ? g_strsplit (raw, "&", -1) : NULL;

  for (guint i = 0; pairs != NULL && pairs[i] != NULL; i++)
    {
      char *eq = strchr (pairs[i], '=');
      g_autofree char *name = NULL;
      char *value;

      if (eq == NULL)
        continue;
      *eq = '\0';
      /* form encoding: '+' is a space */
      g_strdelimit (pairs[i], "+", ' ');
      g_strdelimit (eq + 1, "+", ' ');
      name = g_uri_unescape_string (pairs[i], NULL);
      if (name == NULL || !g_str_equal (name, key))
        continue;
      value = g_uri_unescape_string (eq + 1, NULL);
      if (value != NULL && g_utf8_validate (value, -1, NULL))
        g_ptr_array_add (values, value);
      else
        g_free (value);
    }
  return values;
}

/* keyterm and keywords → the prompt (after the request's own), within the prompt's limit.
 * Returns how many terms went in. */
static guint
apply_keyterms (LmdTranscribeRequest *request, const char *raw_query)
{
  guint added = 0;
  static const char *const keys[] = { "keyterm", "keywords" };
  GString *prompt = g_string_new (request->options.prompt);

  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      g_autoptr (GPtrArray) values = query_values (raw_query, keys[k]);

      for (guint i = 0; i < values->len; i++)
        {
          char *term = g_strstrip ((char *) values->pdata[i]);
          char *boost = g_str_equal (keys[k], "keywords") ? strrchr (term, ':') : NULL;
          gsize extra;

          if (boost != NULL)
            *boost = '\0';
          if (term[0] == '\0')
            continue;
          extra = strlen (term) + (prompt->len > 0 ? 2 : 0);
          if (prompt->len + extra > LMD_TRANSCRIBE_PROMPT_MAX)
            break;
          if (prompt->len > 0)
            g_string_append (prompt, ", ");
          g_string_append (prompt, term);
          added++;
        }
    }
  g_free (request->options.prompt);
  request->options.prompt = prompt->len > 0 ? g_string_free (prompt, FALSE) : (g_string_free (prompt, TRUE), NULL);
  return added;
}

static gboolean
deepgram_parse_request (LmdTranscribeRequest *request, SoupServerMessage *msg, GHashTable *query,
                        GBytes *body, LmdRouter *router, GError **error)
{
  g_autoptr (GHashTable) own = g_hash_table_new (g_str_hash, g_str_equal);
  const char *raw_query = g_uri_get_query (soup_server_message_get_uri (msg));
  const char *model = query != NULL ? g_hash_table_lookup (query, "model") : NULL;
  const char *language = query != NULL ? g_hash_table_lookup (query, "language") : NULL;
  const char *value;
  g_autofree char *short_language = NULL;
  gboolean detect = FALSE;
  gboolean multichannel = FALSE;
  guint n_terms;

  /* the query in the project's own names, for the shared parser */
  if (query != NULL)
    {
      GHashTableIter iter;
      gpointer key, val;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, &key, &val))
        if (!g_str_equal (key, "model") && !g_str_equal (key, "language") &&
            !g_str_equal (key, "keyterm") && !g_str_equal (key, "keywords") &&
            !g_str_equal (key, "callback") && !g_str_equal (key, "callback_url") &&
            !g_str_equal (key, "prompt"))
          g_hash_table_insert (own, key, val);
      if ((value = g_hash_table_lookup (query, "detect_language")) != NULL && !lmd_parse_boolean (value, &detect))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "detect_language" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a boolean", value);
          return FALSE;
        }
    }
  if (query != NULL && (value = g_hash_table_lookup (query, "multichannel")) != NULL &&
      !lmd_parse_boolean (value, &multichannel))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "multichannel" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a boolean", value);
      return FALSE;
    }
  if (detect || g_strcmp0 (language, "multi") == 0)
    g_hash_table_insert (own, "language", "auto");
  else if (language != NULL)
    {
      const char *dash = strchr (language, '-');
      short_language = dash != NULL ? g_ascii_strdown (language, dash - language) : g_ascii_strdown (language, -1);
      g_hash_table_insert (own, "language", short_language);
    }
  if (!lmd_http_request_parse (request, msg, own, body, error))
    return FALSE;
  /* a prompt the client names itself comes first (the project's own option) */
  if (query != NULL && (value = g_hash_table_lookup (query, "prompt")) != NULL &&
      !lmd_transcribe_options_set (&request->options, "prompt", value, error))
    return FALSE;
  if ((n_terms = apply_keyterms (request, raw_query)) > 0)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request->request_id,
                     "deepgram: %u keyterm/keywords value(s) in the prompt (%" G_GSIZE_FORMAT " bytes)",
                     n_terms, strlen (request->options.prompt));
  g_clear_pointer (&request->options.model, g_free);
  request->options.model = g_strdup (lmd_http_deepgram_map_model (router, model));
  if (request->options.model == NULL && lmd_router_find_engine (router, NULL) != NULL)
    {
      /* named, for the answer's model_info */
      request->options.model = g_strdup (lmd_engine_get_model_name (lmd_router_find_engine (router, NULL)));
    }
  request->options.word_timestamps = TRUE;
  request->options.multichannel = multichannel;
  request->options.hash_audio = TRUE; /* metadata.sha256 */
  if (query != NULL && (value = g_hash_table_lookup (query, "callback_method")) != NULL &&
      g_ascii_strcasecmp (value, "post") != 0 && g_ascii_strcasecmp (value, "put") != 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "callback_method" LMD_ERROR_PARAM_SEPARATOR "'%s' is not post or put", value);
      return FALSE;
    }
  /* callback: the answer is {"request_id"} at once, the result goes to the URL */
  if (query != NULL && (value = g_hash_table_lookup (query, "callback")) != NULL)
    {
      if (!lmd_url_check_destination (value, lmd_router_get_limits (router)->allow_private_urls,
                                      "callback", error) ||
          !lmd_transcribe_options_set (&request->options, "callback_url", value, error))
        return FALSE;
    }
  return TRUE;
}

/* Options of the answer, read again from the query (they are not engine options). */
typedef struct {
  gboolean utterances, paragraphs, detect_language;
  double utt_split;
} AnswerShape;

static void
read_shape (const char *raw, AnswerShape *shape)
{
  g_autoptr (GHashTable) query = raw != NULL ? soup_form_decode (raw) : NULL;
  const char *value;

  memset (shape, 0, sizeof *shape);
  shape->utt_split = 0.8;
  if (query == NULL)
    return;
  if ((value = g_hash_table_lookup (query, "utterances")) != NULL)
    lmd_parse_boolean (value, &shape->utterances);
  if ((value = g_hash_table_lookup (query, "paragraphs")) != NULL)
    lmd_parse_boolean (value, &shape->paragraphs);
  if ((value = g_hash_table_lookup (query, "detect_language")) != NULL)
    lmd_parse_boolean (value, &shape->detect_language);
  if ((value = g_hash_table_lookup (query, "utt_split")) != NULL)
    {
      double split = g_ascii_strtod (value, NULL);
      if (split > 0 && split < 60)
        shape->utt_split = split;
    }
}

/* The word as Deepgram lists it: lower case, without the punctuation around it. */
static char *
plain_word (const char *word)
{
  g_autofree char *lower = g_utf8_strdown (word, -1);
  const char *start = lower;
  const char *end = lower + strlen (lower);

  while (start < end && g_unichar_ispunct (g_utf8_get_char (start)))
    start = g_utf8_next_char (start);
  while (end > start)
    {
      const char *prev = g_utf8_prev_char (end);
      if (!g_unichar_ispunct (g_utf8_get_char (prev)))
        break;
      end = prev;
    }
  return end > start ? g_strndup (start, end - start) : g_strdup (lower);
}

void
lmd_http_deepgram_write_words (LmdJsonWriter *w, const LmdTranscript *t, guint first, guint last)
{
  lmd_json_writer_key (w, "words");
  lmd_json_writer_begin_array (w);
  for (guint i = first; i < last; i++)
    {
      const LmdWord *word = &g_array_index (t->words, LmdWord, i);
      g_autofree char *plain = plain_word (word->word);

      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "word");
      lmd_json_writer_string (w, plain);
      lmd_json_writer_key (w, "start");
      lmd_json_writer_double (w, word->start, 3);
      lmd_json_writer_key (w, "end");
      lmd_json_writer_double (w, word->end, 3);
      lmd_json_writer_key (w, "confidence");
      lmd_json_writer_double (w, word->confidence, 3);
      lmd_json_writer_key (w, "punctuated_word");
      lmd_json_writer_string (w, word->word);
      lmd_json_writer_end_object (w);
    }
  lmd_json_writer_end_array (w);
}

/* Utterances: the words cut at pauses of @split seconds or more; [first, last) each. */
static GArray *
split_utterances (const LmdTranscript *t, double split)
{
  GArray *cuts = g_array_new (FALSE, FALSE, sizeof (guint));
  guint zero = 0;

  if (t->words->len == 0)
    return cuts;
  g_array_append_val (cuts, zero);
  for (guint i = 1; i < t->words->len; i++)
    if (g_array_index (t->words, LmdWord, i).start - g_array_index (t->words, LmdWord, i - 1).end >= split)
      g_array_append_val (cuts, i);
  g_array_append_val (cuts, t->words->len);
  return cuts;
}

static char *
join_words (const LmdTranscript *t, guint first, guint last)
{
  GString *text = g_string_new (NULL);

  for (guint i = first; i < last; i++)
    {
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, g_array_index (t->words, LmdWord, i).word);
    }
  return g_string_free (text, FALSE);
}

static double
mean_confidence (const LmdTranscript *t, guint first, guint last)
{
  double sum = 0;

  for (guint i = first; i < last; i++)
    sum += g_array_index (t->words, LmdWord, i).confidence;
  return last > first ? sum / (last - first) : 0;
}

static void
write_paragraphs (LmdJsonWriter *w, const LmdTranscript *t, const GArray *cuts)
{
  GString *all = g_string_new (NULL);

  lmd_json_writer_key (w, "paragraphs");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "paragraphs");
  lmd_json_writer_begin_array (w);
  for (guint c = 0; c + 1 < cuts->len; c++)
    {
      guint first = g_array_index (cuts, guint, c), last = g_array_index (cuts, guint, c + 1);
      guint sentence_start = first;

      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "sentences");
      lmd_json_writer_begin_array (w);
      for (guint i = first; i < last; i++)
        {
          const char *word = g_array_index (t->words, LmdWord, i).word;
          gsize len = strlen (word);

          if (i + 1 == last || (len > 0 && strchr (".?!", word[len - 1]) != NULL))
            {
              g_autofree char *text = join_words (t, sentence_start, i + 1);
              lmd_json_writer_begin_object (w);
              lmd_json_writer_key (w, "text");
              lmd_json_writer_string (w, text);
              lmd_json_writer_key (w, "start");
              lmd_json_writer_double (w, g_array_index (t->words, LmdWord, sentence_start).start, 3);
              lmd_json_writer_key (w, "end");
              lmd_json_writer_double (w, g_array_index (t->words, LmdWord, i).end, 3);
              lmd_json_writer_end_object (w);
              sentence_start = i + 1;
            }
        }
      lmd_json_writer_end_array (w);
      lmd_json_writer_key (w, "num_words");
      lmd_json_writer_int (w, last - first);
      lmd_json_writer_key (w, "start");
      lmd_json_writer_double (w, g_array_index (t->words, LmdWord, first).start, 3);
      lmd_json_writer_key (w, "end");
      lmd_json_writer_double (w, g_array_index (t->words, LmdWord, last - 1).end, 3);
      lmd_json_writer_end_object (w);
      {
        g_autofree char *text = join_words (t, first, last);
        g_string_append_printf (all, "%s%s", all->len > 0 ? "\n\n" : "", text);
      }
    }
  lmd_json_writer_end_array (w);
  lmd_json_writer_key (w, "transcript");
  lmd_json_writer_string (w, all->str);
  lmd_json_writer_end_object (w);
  g_string_free (all, TRUE);
}

/* (transfer full) the answer to the request @request_id for @t, served by @model (nullable),
 * shaped by the options of the raw query @raw_query (nullable): the synchronous answer and
 * the body of the callback alike. */
static char *
answer_json (const LmdTranscript *t, const char *model, const char *request_id,
             const char *raw_query)
{
  g_autofree char *model_uuid = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *created = g_date_time_format_iso8601 (now);
  const char *sha256 = t->audio_sha256;
  /* one entry per input channel (multichannel), else the one transcript */
  const LmdTranscript *const *channels = t->channels != NULL ? (const LmdTranscript *const *) t->channels->pdata : &t;
  guint n_channels = t->channels != NULL ? t->channels->len : 1;
  g_autoptr (GPtrArray) cuts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  LmdJsonWriter *w = lmd_json_writer_new ();
  AnswerShape shape;

  if (model == NULL)
    model = "default";
  model_uuid = lmd_http_deepgram_model_uuid (model);
  read_shape (raw_query, &shape);
  for (guint c = 0; c < n_channels; c++)
    g_ptr_array_add (cuts, split_utterances (channels[c], shape.utt_split));
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "metadata");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "transaction_key");
  lmd_json_writer_string (w, "deprecated");
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, request_id);
  lmd_json_writer_key (w, "sha256");
  lmd_json_writer_string (w, sha256 != NULL ? sha256 : "");
  lmd_json_writer_key (w, "created");
  lmd_json_writer_string (w, created);
  lmd_json_writer_key (w, "duration");
  lmd_json_writer_double (w, t->duration, 3);
  lmd_json_writer_key (w, "channels");
  lmd_json_writer_int (w, n_channels);
  lmd_json_writer_key (w, "models");
  lmd_json_writer_begin_array (w);
  lmd_json_writer_string (w, model_uuid);
  lmd_json_writer_end_array (w);
  lmd_json_writer_key (w, "model_info");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, model_uuid);
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "name");
  lmd_json_writer_string (w, model);
  lmd_json_writer_key (w, "version");
  lmd_json_writer_string (w, "lightning-mediad");
  lmd_json_writer_key (w, "arch");
  lmd_json_writer_string (w, model);
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_object (w);

  lmd_json_writer_key (w, "results");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "channels");
  lmd_json_writer_begin_array (w);
  for (guint c = 0; c < n_channels; c++)
    {
      const LmdTranscript *ct = channels[c];

      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "alternatives");
      lmd_json_writer_begin_array (w);
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "transcript");
      lmd_json_writer_string (w, ct->text != NULL ? ct->text : "");
      lmd_json_writer_key (w, "confidence");
      lmd_json_writer_double (w, ct->confidence, 3);
      lmd_http_deepgram_write_words (w, ct, 0, ct->words->len);
      if (shape.paragraphs)
        write_paragraphs (w, ct, g_ptr_array_index (cuts, c));
      lmd_json_writer_end_object (w);
      lmd_json_writer_end_array (w);
      if (shape.detect_language)
        {
          lmd_json_writer_key (w, "detected_language");
          lmd_json_writer_string (w, ct->language);
          lmd_json_writer_key (w, "language_confidence");
          lmd_json_writer_double (w, 1.0, 1);
        }
      lmd_json_writer_end_object (w);
    }
  lmd_json_writer_end_array (w);
  if (shape.utterances)
    {
      lmd_json_writer_key (w, "utterances");
      lmd_json_writer_begin_array (w);
      for (guint ch = 0; ch < n_channels; ch++)
        {
          const LmdTranscript *ct = channels[ch];
          const GArray *ccuts = g_ptr_array_index (cuts, ch);

          for (guint c = 0; c + 1 < ccuts->len; c++)
            {
              guint first = g_array_index (ccuts, guint, c), last = g_array_index (ccuts, guint, c + 1);
              g_autofree char *text = join_words (ct, first, last);
              g_autofree char *id = g_uuid_string_random ();

              lmd_json_writer_begin_object (w);
              lmd_json_writer_key (w, "start");
              lmd_json_writer_double (w, g_array_index (ct->words, LmdWord, first).start, 3);
              lmd_json_writer_key (w, "end");
              lmd_json_writer_double (w, g_array_index (ct->words, LmdWord, last - 1).end, 3);
              lmd_json_writer_key (w, "confidence");
              lmd_json_writer_double (w, mean_confidence (ct, first, last), 3);
              lmd_json_writer_key (w, "channel");
              lmd_json_writer_int (w, ch);
              lmd_json_writer_key (w, "transcript");
              lmd_json_writer_string (w, text);
              lmd_http_deepgram_write_words (w, ct, first, last);
              lmd_json_writer_key (w, "speaker");
              lmd_json_writer_int (w, 0);
              lmd_json_writer_key (w, "id");
              lmd_json_writer_string (w, id);
              lmd_json_writer_end_object (w);
            }
        }
      lmd_json_writer_end_array (w);
    }
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

static void
deepgram_write_transcript (SoupServerMessage *msg, const LmdTranscript *t,
                           const LmdTranscribeRequest *request, gsize file_size)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "dg-request-id",
                                request->request_id);
  lmd_http_respond_json (msg, SOUP_STATUS_OK,
                         answer_json (t, request->options.model, request->request_id,
                                      g_uri_get_query (soup_server_message_get_uri (msg))));
}

/* Deepgram's err_code for a status. */
static const char *
err_code_for_status (guint status)
{
  switch (status)
    {
    case 400: return "Bad Request";
    case 401: return "INVALID_AUTH";
    case 402: return "ASR_PAYMENT_REQUIRED";
    case 403: return "INSUFFICIENT_PERMISSIONS";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 413: return "PAYLOAD_TOO_LARGE";
    case 415: return "UNSUPPORTED_MEDIA_TYPE";
    case 429: return "TOO_MANY_REQUESTS";
    case 503: return "SERVICE_UNAVAILABLE";
    case 504: return "GATEWAY_TIMEOUT";
    default:  return status >= 500 ? "INTERNAL_SERVER_ERROR" : "Bad Request";
    }
}

/* (transfer full) {"err_code","err_msg","request_id"} for @error; its status in @status. */
static char *
error_json (const GError *error, const char *request_id, guint *status)
{
  LmdErrorCode code = lmd_error_classify (error);
  g_autofree char *sentence = lmd_error_get_sentence (error);
  g_autofree char *param = lmd_error_get_param (error);
  g_autofree char *message = param != NULL ? g_strdup_printf ("%s: %s", param, sentence) : g_strdup (sentence);
  LmdJsonWriter *w = lmd_json_writer_new ();

  *status = lmd_error_http_status (code);
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "err_code");
  lmd_json_writer_string (w, err_code_for_status (*status));
  lmd_json_writer_key (w, "err_msg");
  lmd_json_writer_string (w, code == LMD_ERROR_INTERNAL ? "internal error; the server log has details" : message);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, request_id);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

static void
deepgram_write_error (SoupServerMessage *msg, LmdRouter *router, const GError *error,
                      const char *request_id, guint retry_after_s, gint64 expires_at)
{
  LmdErrorCode code = lmd_error_classify (error);
  const LmdLimits *limits = router != NULL ? lmd_router_get_limits (router) : NULL;
  guint status;
  char *body = error_json (error, request_id, &status);

  if (code == LMD_ERROR_SERVICE_UNAVAILABLE || code == LMD_ERROR_RATE_LIMIT_EXCEEDED ||
      (code == LMD_ERROR_QUOTA_EXCEEDED && retry_after_s > 0))
    {
      /* the SDKs wait this long before they retry */
      guint retry = retry_after_s > 0 ? retry_after_s : limits != NULL ? limits->retry_after_s : 2;
      g_autofree char *header = g_strdup_printf ("%u", retry);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After", header);
    }
  if (request_id != NULL)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "dg-request-id", request_id);
  lmd_http_respond_json (msg, status, body);
}

/* ---- callback ------------------------------------------------------------------------------ */

/* Accepted with a callback: 200 {"request_id"}, the id the callback's metadata carries. */
static void
deepgram_write_job_accepted (SoupServerMessage *msg, const char *job_id, const char *request_id)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, request_id);
  lmd_json_writer_end_object (w);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "dg-request-id", request_id);
  lmd_http_respond_json (msg, SOUP_STATUS_OK, lmd_json_writer_finish (w));
}

/* The job answers in this dialect's shape: its arguments are the request's raw query (the
 * options that shape the answer), its method callback_method. */
static void
deepgram_prepare_job (LmdJob *job, SoupServerMessage *msg, const LmdTranscribeRequest *request)
{
  const char *raw = g_uri_get_query (soup_server_message_get_uri (msg));
  g_autoptr (GHashTable) query = raw != NULL ? soup_form_decode (raw) : NULL;
  const char *method = query != NULL ? g_hash_table_lookup (query, "callback_method") : NULL;

  g_free (job->result_format);
  job->result_format = g_strdup ("deepgram");
  g_free (job->result_args);
  job->result_args = g_strdup (raw);
  g_free (job->callback_method);
  job->callback_method = method != NULL && g_ascii_strcasecmp (method, "put") == 0 ? g_strdup ("PUT") : NULL;
}

static char *
job_completed (const LmdJob *job, const LmdTranscript *transcript)
{
  return answer_json (transcript, job->options.model, job->request_id, job->result_args);
}

static char *
job_failed (const LmdJob *job, const GError *error)
{
  guint status;

  return error_json (error, job->request_id, &status);
}

static const LmdJobFormat deepgram_job_format = {
  .version = LMD_JOB_FORMAT_VERSION,
  .name = "deepgram",
  .completed = job_completed,
  .failed = job_failed,
};

const LmdHttpDialect lmd_http_deepgram_dialect = {
  .version = LMD_HTTP_DIALECT_VERSION,
  .name = "deepgram",
  .path = "/v1/listen",
  .claims = deepgram_claims,
  .parse_request = deepgram_parse_request,
  .write_transcript = deepgram_write_transcript,
  .write_error = deepgram_write_error,
  .write_job_accepted = deepgram_write_job_accepted,
  .prepare_job = deepgram_prepare_job,
  .uuid_request_ids = TRUE,
};
