/* http_auth: the auth port of app/auth.h on ESP-IDF (the twin of ports/linux/http_auth.c).
 *
 * libsodium is not part of ESP-IDF 5.1, so the slow hash is PBKDF2-HMAC-SHA256 from mbedTLS (the
 * SHA peripheral does the rounds), HTTP_AUTH_PBKDF2_ITER iterations, 16-byte random salt, stored as
 * "$pbkdf2-sha256$i=ITER$SALT$HASH" (base64): self-describing, so the count can rise later.
 * Randomness is the hardware RNG (esp_fill_random; main.c enables its entropy source while no radio
 * runs). Storage is NVS (storage.h). */
#ifndef PORTS_ESP_HTTP_AUTH_H
#define PORTS_ESP_HTTP_AUTH_H

#include "app/auth.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "storage.h"

#define HTTP_AUTH_PBKDF2_ITER 10000u

typedef struct {
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    nvs_storage_t ns;
    storage_t storage;
} http_auth_port_t;

void http_auth_port_init(http_auth_port_t *p, auth_port_t *out);
#endif
