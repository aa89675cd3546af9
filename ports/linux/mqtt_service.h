/* mqtt_service: the daemon's MQTT client (libmosquitto), in two threads of its own.
 *
 *  "mqtt"      runs the connection (connect, reconnect with the back-off of app/mqtt_link.h,
 *              libmosquitto's network loop) and the publisher (app/mqtt_pub.h): it copies each
 *              newly published view (view_store_wait) and publishes availability, state, alarms,
 *              events and Home Assistant discovery. It follows the configuration carried by the
 *              view: only a change of a connection parameter (mqtt_cfg_conn_equal, or
 *              gateway.device_id) makes it reconnect.
 *  "mqtt-cmd"  executes commands received on <base>/cmd/... one at a time through the owner's
 *              command queue (cmdq_call, which may wait for the BMS) and publishes each result,
 *              so that a slow BMS write never stalls publishing.
 *
 * Neither thread touches the owner's state: they read published views and send commands through
 * the bounded queue. The owner never waits for them, so a stalled, absent or flapping broker can
 * never delay the BMS -> CAN path. Memory is bounded: at most MQTT_BACKLOG_MAX messages wait in
 * libmosquitto (beyond that publications are deferred and re-rendered from the newest view), and
 * at most MQTT_CMD_QUEUE commands wait for the command thread (beyond that: "busy").
 */
#ifndef PORTS_LINUX_MQTT_SERVICE_H
#define PORTS_LINUX_MQTT_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "app/config.h"
#include "app/mqtt_link.h"
#include "ports/linux/daemon.h"

#define MQTT_BACKLOG_MAX 100u
#define MQTT_CMD_QUEUE 4u
#define MQTT_CMD_TIMEOUT_MS 20000   /* > the owner's own 15 s limit for a BMS request */

typedef struct mqtt_service mqtt_service_t;

/* Counters, for the metrics and the <base>/mqtt document (app/mqtt_link.h, the firmware's too). */
typedef mqtt_link_stats_t mqtt_service_stats_t;

/* Start the service with the configuration at start-up. Returns NULL after logging why when it
 * cannot start (threads); a disabled MQTT section still starts the (idle) thread, which follows
 * later configuration changes. */
mqtt_service_t *mqtt_service_start(const gw_services_t *svc, const gw_config_t *cfg);
/* Orderly stop: "offline" is published and the connection closed (bounded by ~2 s), threads
 * joined. A command waiting for the BMS delays this by at most MQTT_CMD_TIMEOUT_MS. */
void mqtt_service_stop(mqtt_service_t *s);

/* Thread-safe copy of the counters. */
void mqtt_service_stats(mqtt_service_t *s, mqtt_service_stats_t *out);

#endif
