/* ota_img: the first bytes of an ESP-IDF application image (the .bin that `make firmware` writes
 * and POST /api/system/ota receives), checked before anything is written to flash: the image
 * header (magic 0xE9, segment count, chip id), the first segment's header and the application
 * description that ESP-IDF places at the start of the first segment (magic 0xABCD5432, version,
 * project name, ESP-IDF version). Portable: no OS calls, no allocation; app/api uses it, and the
 * firmware's esp_ota_end() verifies the whole image (checksum, SHA-256) afterwards.
 *
 * Layout (ESP-IDF 5.x, esp_app_format.h), little-endian:
 *   0   esp_image_header_t (24 bytes): magic 0xE9 @0, segment_count @1, chip_id @12..13
 *   24  esp_image_segment_header_t (8 bytes): load_addr, data_len
 *   32  esp_app_desc_t (256 bytes): magic_word 0xABCD5432 @32, version[32] @48,
 *       project_name[32] @80, time[16] @112, date[16] @128, idf_ver[32] @144
 */
#ifndef APP_OTA_IMG_H
#define APP_OTA_IMG_H

#include <stddef.h>
#include <stdint.h>

#define OTA_IMG_HEAD_LEN 288u  /* bytes needed by ota_img_check() */
#define OTA_IMG_MAGIC 0xE9u
#define OTA_IMG_DESC_MAGIC 0xABCD5432u

/* Chip ids of esp_chip_id_t (ESP-IDF 5.x). */
#define OTA_CHIP_ESP32 0x0000u
#define OTA_CHIP_ESP32S2 0x0002u
#define OTA_CHIP_ESP32C3 0x0005u
#define OTA_CHIP_ESP32S3 0x0009u
#define OTA_CHIP_ESP32C2 0x000Cu
#define OTA_CHIP_ESP32C6 0x000Du
#define OTA_CHIP_ESP32H2 0x0010u

typedef enum {
    OTA_IMG_OK = 0,
    OTA_IMG_BAD_MAGIC,     /* not an ESP application image (first byte not 0xE9, no segments) */
    OTA_IMG_WRONG_CHIP,    /* an image for another chip */
    OTA_IMG_NO_DESC,       /* no application description (not an ESP-IDF app, or a bootloader) */
    OTA_IMG_WRONG_PROJECT, /* an ESP-IDF app, but not this gateway */
} ota_img_result_t;

typedef struct {
    uint16_t chip_id;
    uint8_t segments;
    char version[33];      /* esp_app_desc_t.version, NUL-terminated, printable ASCII only */
    char project[33];
    char idf_ver[33];
} ota_img_info_t;

/* Check the first n bytes of an image (at least OTA_IMG_HEAD_LEN, else OTA_IMG_BAD_MAGIC).
 * want_project: the project name the image must carry (NULL: any). Fills *info as far as it got
 * and, on a refusal, why (one sentence) into why[cap]. */
ota_img_result_t ota_img_check(const uint8_t *p, size_t n, uint16_t want_chip, const char *want_project,
                               ota_img_info_t *info, char *why, size_t cap);

/* "esp32c3", or "chip id 0x1234" for an unknown one (into buf). */
const char *ota_chip_name(uint16_t id, char *buf, size_t cap);

#endif
