/* mqtt_service: the firmware's MQTT client (the twin of ports/linux/mqtt_service.c), on ESP-IDF's
 * esp-mqtt, publishing what app/mqtt_pub.h decides (availability with a last will, state, alarms,
 * events, Home Assistant discovery) and taking commands through app/mqtt_cmd.h.
 *
 * Tasks:
 *   "mqtt"       the publisher and the connection's life (its own task, priority 3): follows the
 *                configuration carried by the published views (only a change of a connection
 *                parameter, mqtt_cfg_conn_equal, or of gateway.device_id, reconnects), waits for
 *                each new view and runs mqtt_pub_step() on it *under the view store's lock without
 *                copying the view* (view_store_read): what is due is rendered into a small outbox
 *                of heap messages (at most MQTT_OUTBOX_BYTES), the lock is released, and only then
 *                are they handed to esp-mqtt (esp_mqtt_client_publish, which may block on a slow
 *                broker: only this task waits). Reconnects with the back-off of app/mqtt_link.h.
 *   "mqtt_task"  esp-mqtt's own network task; its event handler only records what happened,
 *                queues received commands and notes retained discovery documents.
 *   "mqtt_cmd"   created when a command arrives and ended after MQTT_CMD_IDLE_MS without one:
 *                parses it (app/mqtt_cmd, through the JSON gate), refuses it while mqtt.commands is
 *                false (the default) or when it was retained, else sends it to the owner through
 *                the command queue (cmdq_call, which may wait for the BMS) and queues the result
 *                for the "mqtt" task to publish on <base>/cmd/result.
 *
 * The owner never waits for MQTT: it only takes the view store's lock, which the "mqtt" task holds
 * while it renders (a few kB of JSON, no network call and no esp-mqtt call under it), so a stalled,
 * absent or flapping broker cannot delay the BMS -> CAN path. Memory: nothing but the task's stack
 * and this struct while MQTT is disabled; while enabled the publisher's state (mqtt_pub_t, ~6 kB)
 * and esp-mqtt's client, task and buffers; messages exist on the heap only while in flight, at
 * most MQTT_BACKLOG_MAX unacknowledged ones (QoS 1/2).
 *
 * Differences from the daemon: MQTT 3.1.1 only (esp-mqtt is built without MQTT 5, to save flash and
 * RAM), so a command published live with the retain flag arrives without it and cannot be refused
 * (one arriving retained at subscription time is); no TLS yet (mqtt.tls = true is refused with an
 * error line and MQTT stays off); the device id is remembered in NVS (key "mqtt_device_id"), and
 * the fallback without a BMS serial number is derived from the chip's MAC address. */
#ifndef PORTS_ESP_MQTT_SERVICE_H
#define PORTS_ESP_MQTT_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "app/config.h"
#include "app/mqtt_link.h"
#include "daemon.h"

#define MQTT_CMD_QUEUE 4u
#define MQTT_CMD_TIMEOUT_MS 20000   /* > the owner's own 15 s limit for a BMS request */
#define MQTT_CMD_IDLE_MS 30000u     /* the command task ends after this long without a command */
#define MQTT_BACKLOG_MAX 16u        /* QoS 1/2 messages not acknowledged yet, plus the outbox's */
#define MQTT_OUTBOX_BYTES 4096u     /* rendered per pass under the view lock (a larger single
                                     * message, e.g. a 5 kB state document, goes alone) */

typedef struct mqtt_service mqtt_service_t;

/* Counters, for the <base>/mqtt document (app/mqtt_link.h, the daemon's too). */
typedef mqtt_link_stats_t mqtt_service_stats_t;

/* Start the service (its task). NULL after logging why when it cannot start; a disabled MQTT
 * section still starts the (idle) task, which follows later configuration changes. Never fatal
 * for the battery path. */
mqtt_service_t *mqtt_service_start(const gw_services_t *svc, const gw_config_t *cfg);

/* Copy of the counters (any task). */
void mqtt_service_stats(mqtt_service_t *s, mqtt_service_stats_t *out);

#endif
