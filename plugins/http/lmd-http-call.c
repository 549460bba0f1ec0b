/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-call.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>

#include "lmd-error.h"
#include "lmd-http-listener.h"
#include "lmd-log.h"

#define CALL_KEY "lmd-http-call"

void
lmd_http_call_release_body (LmdHttpCall *call)
{
  g_clear_pointer (&call->body, lmd_http_body_free);
  if (call->uploading)
    {
      call->uploading = FALSE;
      lmd_http_upload_budget_end_upload (lmd_http_transport_get_uploads (call->self));
    }
  if (call->spool != NULL)
    {
      g_autoptr (GError) ended = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the request has ended");
      lmd_body_spool_abort (call->spool, ended);
      g_clear_pointer (&call->spool, lmd_body_spool_unref);
    }
}

static void
lmd_http_call_free (LmdHttpCall *call)
{
  /* a message dropped without finishing still releases its admission */
  if (call->ticket != NULL)
    lmd_license_complete (lmd_router_get_license (lmd_http_transport_get_router (call->self)),
                          g_steal_pointer (&call->ticket), call->audio_seconds, 499);
  g_free (call->request_id);
  g_clear_object (&call->cancellable);
  if (call->watch != NULL)
    {
      g_source_destroy (call->watch);
      g_source_unref (call->watch);
    }
  lmd_http_call_release_body (call);
  g_free (call);
}

LmdHttpCall *
lmd_http_call_get (SoupServerMessage *msg)
{
  return g_object_get_data (G_OBJECT (msg), CALL_KEY);
}

static gboolean
request_id_is_acceptable (const char *id)
{
  gsize len = strlen (id);

  if (len == 0 || len > 128)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-_.:", *p) == NULL)
      return FALSE;
  return TRUE;
}

static char *
new_request_id (void)
{
  g_autofree char *uuid = g_uuid_string_random ();
  GString *id = g_string_new ("req_");

  for (const char *p = uuid; *p != '\0'; p++)
    if (*p != '-')
      g_string_append_c (id, *p);
  return g_string_free (id, FALSE);
}

static void
on_finished (SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpCall *call = lmd_http_call_get (msg);

  if (call != NULL)
    call->state = LMD_HTTP_CALL_FINISHED;
}

gboolean
lmd_http_call_is_answered (const LmdHttpCall *call)
{
  return call->state >= LMD_HTTP_CALL_ANSWERED;
}

LmdHttpCall *
lmd_http_call_attach (LmdHttpTransport *self, SoupServerMessage *msg, const char *client_id)
{
  LmdHttpCall *call = g_new0 (LmdHttpCall, 1);

  call->self = self;
  call->request_id = client_id != NULL && request_id_is_acceptable (client_id) ? g_strdup (client_id)
                                                                               : new_request_id ();
  call->started_at = g_get_monotonic_time ();
  call->cancellable = g_cancellable_new ();
  g_object_set_data_full (G_OBJECT (msg), CALL_KEY, call, (GDestroyNotify) lmd_http_call_free);
  g_signal_connect (msg, "finished", G_CALLBACK (on_finished), NULL);
  return call;
}

void
lmd_http_call_disconnected (SoupServerMessage *msg)
{
  LmdHttpCall *call = lmd_http_call_get (msg);

  if (call != NULL && !call->disconnected)
    {
      call->disconnected = TRUE;
      g_cancellable_cancel (call->cancellable);
      if (call->spool != NULL)
        {
          g_autoptr (GError) gone = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the client went away");
          lmd_body_spool_abort (call->spool, gone);
        }
    }
}

/* libsoup does no I/O on a paused message, so a client that closes its connection while its
 * request is worked on would go unnoticed until the answer is written.  While paused, the
 * socket is watched: the end of the stream (or a reset) means the client left, and the work
 * is cancelled (for an api, that closes its connection to the worker, whose own watch then
 * stops the transcription).  A client that half-closes its side after sending a request
 * counts as gone too. */
static gboolean
on_client_socket (int fd, GIOCondition condition, gpointer user_data)
{
  SoupServerMessage *msg = user_data;
  LmdHttpCall *call = lmd_http_call_get (msg);
  char byte;
  gssize n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&call->watch, g_source_unref);
  if (n > 0)
    return G_SOURCE_REMOVE; /* more from the client (a pipelined request): nothing to tell */
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id, "the client closed its connection; stopping the request");
  lmd_http_call_disconnected (msg);
  /* libsoup finishes the message when it tries to answer on the closed socket */
  soup_server_message_set_status (msg, 499, "Client Closed Request");
  lmd_http_call_resume (msg);
  return G_SOURCE_REMOVE;
}

void
lmd_http_call_hold (SoupServerMessage *msg)
{
  LmdHttpCall *call = lmd_http_call_get (msg);
  GSocket *socket = lmd_http_listener_get_socket (msg);

  if (call != NULL && call->state != LMD_HTTP_CALL_OPEN)
    return; /* held already, or answered: nothing to wait for */
  soup_server_message_pause (msg);
  if (call != NULL)
    call->state = LMD_HTTP_CALL_HELD;
  if (call != NULL && call->watch == NULL && socket != NULL)
    {
      call->watch = g_unix_fd_source_new (g_socket_get_fd (socket), G_IO_IN | G_IO_HUP | G_IO_ERR);
      g_source_set_callback (call->watch, G_SOURCE_FUNC (on_client_socket), msg, NULL);
      g_source_attach (call->watch, g_main_context_get_thread_default ());
    }
}

void
lmd_http_call_resume (SoupServerMessage *msg)
{
  LmdHttpCall *call = lmd_http_call_get (msg);

  if (call != NULL && call->watch != NULL)
    {
      g_source_destroy (call->watch);
      g_clear_pointer (&call->watch, g_source_unref);
    }
  if (call == NULL)
    {
      soup_server_message_unpause (msg);
      return;
    }
  switch (call->state)
    {
    case LMD_HTTP_CALL_HELD:
      call->state = LMD_HTTP_CALL_ANSWERED;
      soup_server_message_unpause (msg);
      break;
    case LMD_HTTP_CALL_OPEN:
      call->state = LMD_HTTP_CALL_ANSWERED; /* not paused: libsoup sends it when it gets there */
      break;
    case LMD_HTTP_CALL_ANSWERED:
    case LMD_HTTP_CALL_FINISHED:
      break; /* libsoup asserts on unpausing a finished message */
    }
}

void
lmd_http_call_respond_error (SoupServerMessage *msg, const GError *error, guint retry_after_s)
{
  LmdHttpCall *call = lmd_http_call_get (msg);
  LmdRouter *router = call != NULL ? lmd_http_transport_get_router (call->self) : NULL;
  LmdErrorCode code = lmd_error_classify (error);
  gint64 expires_at = 0;

  if (call != NULL && lmd_http_call_is_answered (call))
    {
      /* the first answer stands: whatever completes after it (a worker, an admission) must
       * check the call's state first, so this line means a path that does not */
      LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, call->request_id, "%s %s: answered already; a second "
                       "answer (%s: %s) is dropped",
                       soup_server_message_get_method (msg),
                       g_uri_get_path (soup_server_message_get_uri (msg)), lmd_error_code_name (code),
                       error->message);
      return;
    }
  LMD_LOG_REQUEST (code == LMD_ERROR_INTERNAL ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_INFO,
                   call != NULL ? call->request_id : NULL, "%s %s → %u %s: %s",
                   soup_server_message_get_method (msg),
                   g_uri_get_path (soup_server_message_get_uri (msg)), lmd_error_http_status (code),
                   lmd_error_code_name (code), error->message);
  if ((code == LMD_ERROR_LICENSE_EXPIRED || code == LMD_ERROR_QUOTA_EXCEEDED) && router != NULL &&
      lmd_router_get_license (router) != NULL)
    {
      LmdLicenseStatus status;
      lmd_license_get_status (lmd_router_get_license (router), &status);
      expires_at = status.valid_until;
    }
  lmd_http_dialect_write_error (call != NULL ? call->dialect : NULL, msg, router, error,
                                call != NULL ? call->request_id : NULL, retry_after_s, expires_at);
  if (call != NULL && call->state == LMD_HTTP_CALL_OPEN)
    call->state = LMD_HTTP_CALL_ANSWERED; /* a held call is answered when it is resumed */
}
