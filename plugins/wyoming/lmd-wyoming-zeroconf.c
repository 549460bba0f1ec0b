/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-wyoming"

#include "lmd-wyoming-zeroconf.h"

#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-glib/glib-watch.h>
#include <gio/gio.h>

#define SERVICE_TYPE "_wyoming._tcp"

struct _LmdWyomingZeroconf {
  AvahiGLibPoll *poll;      /* owned */
  AvahiClient *client;      /* owned */
  AvahiEntryGroup *group;   /* owned, nullable */
  char *name;               /* owned: the name announced (changes on a collision) */
  guint port;
};

static void announce (LmdWyomingZeroconf *self, AvahiClient *client);

static void
rename_after_collision (LmdWyomingZeroconf *self)
{
  char *alternative = avahi_alternative_service_name (self->name);

  g_warning ("zeroconf: the name '%s' is taken on the network; announcing '%s'", self->name,
             alternative);
  g_free (self->name);
  self->name = g_strdup (alternative);
  avahi_free (alternative);
}

static void
on_group (AvahiEntryGroup *group, AvahiEntryGroupState state, void *user_data)
{
  LmdWyomingZeroconf *self = user_data;

  switch (state)
    {
    case AVAHI_ENTRY_GROUP_ESTABLISHED:
      g_info ("zeroconf: announced '%s' (" SERVICE_TYPE ", port %u)", self->name, self->port);
      break;
    case AVAHI_ENTRY_GROUP_COLLISION:
      rename_after_collision (self);
      announce (self, avahi_entry_group_get_client (group));
      break;
    case AVAHI_ENTRY_GROUP_FAILURE:
      g_warning ("zeroconf: the announcement failed: %s",
                 avahi_strerror (avahi_client_errno (avahi_entry_group_get_client (group))));
      break;
    default:
      break;
    }
}

static void
announce (LmdWyomingZeroconf *self, AvahiClient *client)
{
  int ret;

  if (self->group == NULL)
    self->group = avahi_entry_group_new (client, on_group, self);
  if (self->group == NULL)
    {
      g_warning ("zeroconf: cannot create an entry group: %s", avahi_strerror (avahi_client_errno (client)));
      return;
    }
  avahi_entry_group_reset (self->group);
  ret = avahi_entry_group_add_service (self->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, self->name,
                                       SERVICE_TYPE, NULL, NULL, (uint16_t) self->port, NULL);
  if (ret == AVAHI_ERR_COLLISION)
    {
      rename_after_collision (self);
      announce (self, client);
      return;
    }
  if (ret < 0 || (ret = avahi_entry_group_commit (self->group)) < 0)
    g_warning ("zeroconf: cannot announce '%s': %s", self->name, avahi_strerror (ret));
}

static void
on_client (AvahiClient *client, AvahiClientState state, void *user_data)
{
  LmdWyomingZeroconf *self = user_data;

  switch (state)
    {
    case AVAHI_CLIENT_S_RUNNING:
      announce (self, client);
      break;
    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
      /* the host name changes: announced again once the server runs */
      if (self->group != NULL)
        avahi_entry_group_reset (self->group);
      break;
    case AVAHI_CLIENT_CONNECTING:
      g_info ("zeroconf: waiting for avahi-daemon to announce '%s'", self->name);
      break;
    case AVAHI_CLIENT_FAILURE:
      g_warning ("zeroconf: avahi-daemon: %s; no announcement", avahi_strerror (avahi_client_errno (client)));
      break;
    }
}

LmdWyomingZeroconf *
lmd_wyoming_zeroconf_new (const char *name, guint port, GError **error)
{
  LmdWyomingZeroconf *self = g_new0 (LmdWyomingZeroconf, 1);
  int avahi_error = 0;

  self->name = g_strdup (name);
  self->port = port;
  self->poll = avahi_glib_poll_new (NULL, G_PRIORITY_DEFAULT);
  /* NO_FAIL: without avahi-daemon the client waits for it instead of failing */
  self->client = avahi_client_new (avahi_glib_poll_get (self->poll), AVAHI_CLIENT_NO_FAIL, on_client,
                                   self, &avahi_error);
  if (self->client == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "zeroconf: %s", avahi_strerror (avahi_error));
      lmd_wyoming_zeroconf_free (self);
      return NULL;
    }
  return self;
}

void
lmd_wyoming_zeroconf_free (LmdWyomingZeroconf *self)
{
  if (self == NULL)
    return;
  /* freeing the client frees its entry groups (the announcement is withdrawn) */
  if (self->client != NULL)
    avahi_client_free (self->client);
  if (self->poll != NULL)
    avahi_glib_poll_free (self->poll);
  g_free (self->name);
  g_free (self);
}
