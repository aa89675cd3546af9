/* ota: firmware updates over the network and their rollback (no Linux twin: the daemon is updated
 * by its package manager). The upload itself is app/api's (POST /api/system/ota): it checks the
 * image header, then streams the image into this port's update slot (ota_port()); here: the
 * inactive OTA partition (esp_ota_begin/write/end, never the running one), the boot partition
 * switch, the last upload's outcome (NVS "ota-last" for a success, which the next image reports),
 * and the probation of a new image.
 *
 * Probation: CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE makes the bootloader start a new image in the
 * state "pending verify". The owner task calls ota_probation() on every pass with whether the
 * battery path has run (BMS read, limits computed, a CAN frame sent); the first time it has, the
 * image is marked valid. If it has not within CONFIG_TB_OTA_VERIFY_S, ota_probation() returns true
 * and the owner restarts through ota_roll_back() into the previous image. A crash, a watchdog reset
 * or a power cut during probation has the same end: the bootloader sees the image still pending
 * and starts the previous one. */
#ifndef TB_ESP_OTA_H
#define TB_ESP_OTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api.h"

/* At start, before the owner task: reads the running image's state, logs a rollback or a pending
 * probation, loads the last upload's outcome. */
void ota_boot(uint32_t now_ms);
/* The running image's version (esp_app_desc_t, which a build sets from the project's version). */
const char *ota_version(void);
/* Size of the update slot (0 if there is none). */
size_t ota_slot_bytes(void);
/* For api_port_t.ota. */
const api_ota_port_t *ota_port(void);
/* Owner task, every pass: true when the probation ran out (the caller stops the battery side and
 * calls ota_roll_back()). */
bool ota_probation(uint32_t now_ms, bool battery_path_ok);
/* Marks the running image invalid and restarts into the previous one; does not return. */
void ota_roll_back(void);

#endif
