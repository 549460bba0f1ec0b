/* SPDX-License-Identifier: MIT */
#include "lmd-test-batch.h"

#include <string.h>

/* One request of a batch. */
typedef struct {
  LmdTestBatch *batch;  /* borrowed: the batch is freed only after its requests completed */
  guint index;          /* in the order sent */
  SoupMessage *msg;     /* owned, until completed */
  gboolean done;
  guint status;         /* 0: no HTTP answer */
  char *body;           /* owned: the body as text, or the transport error's message */
  JsonParser *parser;   /* owned, nullable: the body parsed, on first use */
} BatchCall;

struct _LmdTestBatch {
  SoupSession *session; /* borrowed */
  GPtrArray *calls;     /* BatchCall (owned), in the order sent */
  guint done;
};

static void
batch_call_free (BatchCall *c)
{
  g_clear_object (&c->msg);
  g_free (c->body);
  g_clear_object (&c->parser);
  g_free (c);
}

LmdTestBatch *
lmd_test_batch_new (SoupSession *session)
{
  LmdTestBatch *self = g_new0 (LmdTestBatch, 1);

  self->session = session;
  self->calls = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_call_free);
  return self;
}

void
lmd_test_batch_free (LmdTestBatch *self)
{
  if (self == NULL)
    return;
  /* a request still on its way would complete into freed memory */
  g_assert_cmpuint (self->done, ==, self->calls->len);
  g_ptr_array_unref (self->calls);
  g_free (self);
}

static void
batch_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BatchCall *c = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);

  c->status = body != NULL ? soup_message_get_status (c->msg) : 0;
  c->body = body != NULL ? g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body))
                         : g_strdup (error->message);
  c->done = TRUE;
  if (c->status == 0 || c->status >= 400)
    g_test_message ("request %u of the batch: %u %.200s", c->index, c->status, c->body);
  g_clear_object (&c->msg);
  c->batch->done++;
}

void
lmd_test_batch_post (LmdTestBatch *self, const char *url, const char *content_type, GBytes *body, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      BatchCall *c = g_new0 (BatchCall, 1);

      c->batch = self;
      c->index = self->calls->len;
      c->msg = soup_message_new ("POST", url);
      g_assert_nonnull (c->msg);
      soup_message_set_request_body_from_bytes (c->msg, content_type, body);
      g_ptr_array_add (self->calls, c);
      soup_session_send_and_read_async (self->session, c->msg, G_PRIORITY_DEFAULT, NULL, batch_call_done, c);
    }
}

void
lmd_test_batch_wait (LmdTestBatch *self, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (self->done < self->calls->len && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (2000), TRUE);
  g_assert_cmpuint (self->done, ==, self->calls->len);
}

guint
lmd_test_batch_get_sent (LmdTestBatch *self)
{
  return self->calls->len;
}

guint
lmd_test_batch_get_done (LmdTestBatch *self)
{
  return self->done;
}

static BatchCall *
completed_call (LmdTestBatch *self, guint i)
{
  BatchCall *c;

  g_assert_cmpuint (i, <, self->calls->len);
  c = self->calls->pdata[i];
  g_assert_true (c->done);
  return c;
}

guint
lmd_test_batch_get_status (LmdTestBatch *self, guint i)
{
  return completed_call (self, i)->status;
}

const char *
lmd_test_batch_get_body (LmdTestBatch *self, guint i)
{
  return completed_call (self, i)->body;
}

const char *
lmd_test_batch_get_member (LmdTestBatch *self, guint i, const char *member)
{
  BatchCall *c = completed_call (self, i);
  JsonNode *root;

  if (c->status == 0)
    return NULL;
  if (c->parser == NULL)
    {
      c->parser = json_parser_new ();
      if (!json_parser_load_from_data (c->parser, c->body, -1, NULL))
        return NULL;
    }
  root = json_parser_get_root (c->parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) || !json_object_has_member (json_node_get_object (root), member))
    return NULL;
  return json_object_get_string_member (json_node_get_object (root), member);
}

guint
lmd_test_batch_count_status (LmdTestBatch *self, guint status)
{
  guint n = 0;

  for (guint i = 0; i < self->calls->len; i++)
    {
      BatchCall *c = self->calls->pdata[i];
      if (c->done && c->status == status)
        n++;
    }
  return n;
}
