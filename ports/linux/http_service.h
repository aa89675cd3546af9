/* http_service: the HTTP service thread(s) of the daemon. Reads published views and history,
 * sends commands through the queue; never touches the owner's state. */
#ifndef PORTS_LINUX_HTTP_SERVICE_H
#define PORTS_LINUX_HTTP_SERVICE_H

#include "app/config.h"
#include "app/gw_view.h"
#include "ports/linux/daemon.h"

typedef struct http_service http_service_t;

/* Seconds between two attempts to listen on gateway.http after a failure. */
#define HTTP_RETRY_MS 5000u

/* Start the service with the configuration at start-up. The web is never a reason to stop the
 * battery side: when gateway.http cannot be bound (address in use, not on this host) the failure
 * is logged once per distinct reason, counted, reported by http_service_status(), and a thread
 * ("web-retry") tries again every HTTP_RETRY_MS until it works or the service stops. What no retry
 * can cure (no randomness for the login, a civetweb without WebSocket or, for an IPv6 address,
 * without IPv6) is logged and reported, not retried. Returns NULL only when out of memory; a
 * disabled service returns a valid handle that does nothing. */
http_service_t *http_service_start(const gw_services_t *svc, const gw_config_t *cfg);
/* Stops serving (and retrying); joins the threads; frees s. s may be NULL. */
void http_service_stop(http_service_t *s);

/* Listening state, bind failures and the last reason (thread-safe; short lock). s may be NULL
 * (reported as not started). out->known is left false: the caller's port sets it. */
void http_service_status(http_service_t *s, gw_web_status_t *out);

#endif
