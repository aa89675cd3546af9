#include "app/ota_img.h"

#include <stdio.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* A fixed-size text field of the description: up to its first NUL; anything but printable ASCII
 * becomes '?', so the text is safe in JSON, logs and the UI. */
static void field(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1u < cap && p[i]; i++) {
        out[i] = p[i] >= 0x20u && p[i] < 0x7fu ? (char)p[i] : '?';
    }
    out[i] = '\0';
}

const char *ota_chip_name(uint16_t id, char *buf, size_t cap)
{
    switch (id) {
    case OTA_CHIP_ESP32: return "esp32";
    case OTA_CHIP_ESP32S2: return "esp32s2";
    case OTA_CHIP_ESP32C3: return "esp32c3";
    case OTA_CHIP_ESP32S3: return "esp32s3";
    case OTA_CHIP_ESP32C2: return "esp32c2";
    case OTA_CHIP_ESP32C6: return "esp32c6";
    case OTA_CHIP_ESP32H2: return "esp32h2";
    default: snprintf(buf, cap, "chip id 0x%04x", (unsigned)id); return buf;
    }
}

ota_img_result_t ota_img_check(const uint8_t *p, size_t n, uint16_t want_chip, const char *want_project,
                               ota_img_info_t *info, char *why, size_t cap)
{
    memset(info, 0, sizeof *info);
    if (cap) {
        why[0] = '\0';
    }
    if (n < OTA_IMG_HEAD_LEN || p[0] != OTA_IMG_MAGIC || p[1] == 0u || p[1] > 16u) {
        snprintf(why, cap,
                 "not an ESP32 application image (it starts with 0x%02x 0x%02x; an image starts with 0xe9 and a "
                 "segment count of 1 to 16): upload the app's .bin, not flash.bin or the ELF",
                 n ? p[0] : 0u, n > 1u ? p[1] : 0u);
        return OTA_IMG_BAD_MAGIC;
    }
    info->segments = p[1];
    info->chip_id = rd16(p + 12);
    if (info->chip_id != want_chip) {
        char a[24], b[24];
        snprintf(why, cap, "the image is for the %s, this gateway is an %s", ota_chip_name(info->chip_id, a, sizeof a),
                 ota_chip_name(want_chip, b, sizeof b));
        return OTA_IMG_WRONG_CHIP;
    }
    if (rd32(p + 32) != OTA_IMG_DESC_MAGIC) {
        snprintf(why, cap, "the image has no ESP-IDF application description (not an application, or a bootloader)");
        return OTA_IMG_NO_DESC;
    }
    field(info->version, sizeof info->version, p + 48, 32u);
    field(info->project, sizeof info->project, p + 80, 32u);
    field(info->idf_ver, sizeof info->idf_ver, p + 144, 32u);
    if (want_project && strcmp(info->project, want_project) != 0) {
        snprintf(why, cap, "the image is the project \"%s\", not \"%s\"", info->project, want_project);
        return OTA_IMG_WRONG_PROJECT;
    }
    return OTA_IMG_OK;
}
