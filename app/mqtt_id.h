/* mqtt_id: names that MQTT topics and Home Assistant identifiers are built from — the device id,
 * its slug, the resolved base topic and the web UI address shown by Home Assistant.
 *
 * Device id (docs/mqtt.md): gateway.device_id when set; otherwise one derived from the TinyBMS
 * serial number (registers 504-509) and remembered by the port, so that topics and Home Assistant
 * entities survive a restart with the BMS switched off; otherwise a fallback from the machine.
 *
 * No allocation, no OS calls. Every function writes a NUL-terminated string into (out, cap) and
 * returns its length, or TB_ERR_NOSPACE / TB_ERR_ARG without a usable result.
 */
#ifndef APP_MQTT_ID_H
#define APP_MQTT_ID_H

#include <stddef.h>
#include <stdint.h>

#define MQTT_DEVICE_ID_MAX 48u  /* slug of a device id, NUL included */
#define MQTT_TOPIC_MAX 192u     /* any topic the gateway builds, NUL included */

/* Slug for topics and Home Assistant ids: [A-Za-z0-9_-] kept, every other byte becomes '_',
 * at most cap-1 bytes. An empty input gives TB_ERR_ARG. */
int mqtt_slug(const char *in, char *out, size_t cap);

/* The 24 hex digits of the serial words (lower case). TB_ERR_ARG when the serial carries no
 * information (all 0x0000 or all 0xFFFF). */
int mqtt_id_from_serial(const uint16_t serial[6], char *out, size_t cap);

/* The base topic: pattern with {device_id} replaced by device_id (a slug). */
int mqtt_base_resolve(const char *pattern, const char *device_id, char *out, size_t cap);

/* Web UI address for Home Assistant's configuration_url: web_url when set, else
 * "http://HOST:PORT/" from http_listen ("ADDR:PORT"), where a wildcard or empty ADDR
 * (0.0.0.0, ::, [::]) is replaced by hostname. Returns 0 (out = "") when nothing sensible can be
 * built (no port, no usable host). */
int mqtt_web_url(const char *web_url, const char *http_listen, const char *hostname, char *out, size_t cap);

#endif
