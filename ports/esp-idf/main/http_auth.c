#include "http_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tb_err.h"
#include "esp_random.h"
#include "mbedtls/base64.h"
#include "mbedtls/constant_time.h"
#include "mbedtls/pkcs5.h"

#define SALT_LEN 16u
#define KEY_LEN 32u
#define PREFIX "$pbkdf2-sha256$i="

static int rnd(void *ctx, void *buf, size_t n)
{
    (void)ctx;
    esp_fill_random(buf, n);
    return TB_OK;
}

static int derive(const char *pw, const unsigned char *salt, size_t salt_len, unsigned iter, unsigned char *key)
{
    return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, (const unsigned char *)pw, strlen(pw), salt, salt_len,
                                         iter, KEY_LEN, key) == 0
               ? TB_OK
               : TB_ERR_IO;
}

static int hash(void *ctx, const char *pw, char *out, size_t cap)
{
    (void)ctx;
    unsigned char salt[SALT_LEN], key[KEY_LEN];
    esp_fill_random(salt, sizeof salt);
    if (derive(pw, salt, sizeof salt, HTTP_AUTH_PBKDF2_ITER, key) != TB_OK) {
        return TB_ERR_IO;
    }
    char s64[32], k64[48];
    size_t sn = 0, kn = 0;
    if (mbedtls_base64_encode((unsigned char *)s64, sizeof s64, &sn, salt, sizeof salt) != 0 ||
        mbedtls_base64_encode((unsigned char *)k64, sizeof k64, &kn, key, sizeof key) != 0) {
        return TB_ERR_NOSPACE;
    }
    int n = snprintf(out, cap, PREFIX "%u$%.*s$%.*s", HTTP_AUTH_PBKDF2_ITER, (int)sn, s64, (int)kn, k64);
    memset(key, 0, sizeof key);
    return n > 0 && (size_t)n < cap ? TB_OK : TB_ERR_NOSPACE;
}

static int verify(void *ctx, const char *encoded, const char *pw)
{
    (void)ctx;
    size_t pl = strlen(PREFIX);
    if (strncmp(encoded, PREFIX, pl) != 0) {
        return TB_ERR_AUTH; /* another platform's hash (an Argon2id string from Linux): never equal */
    }
    char *end = NULL;
    unsigned long iter = strtoul(encoded + pl, &end, 10);
    if (!end || *end != '$' || iter < 1000u || iter > 1000000u) {
        return TB_ERR_AUTH;
    }
    const char *s = end + 1, *d = strchr(s, '$');
    if (!d) {
        return TB_ERR_AUTH;
    }
    unsigned char salt[48], want[48], got[KEY_LEN];
    size_t sn = 0, wn = 0;
    if (mbedtls_base64_decode(salt, sizeof salt, &sn, (const unsigned char *)s, (size_t)(d - s)) != 0 ||
        mbedtls_base64_decode(want, sizeof want, &wn, (const unsigned char *)d + 1, strlen(d + 1)) != 0 ||
        wn != KEY_LEN || sn < 8u) {
        return TB_ERR_AUTH;
    }
    if (derive(pw, salt, sn, (unsigned)iter, got) != TB_OK) {
        return TB_ERR_AUTH;
    }
    int same = mbedtls_ct_memcmp(got, want, KEY_LEN) == 0;
    memset(got, 0, sizeof got);
    return same ? TB_OK : TB_ERR_AUTH;
}

static void lock(void *ctx) { xSemaphoreTake(((http_auth_port_t *)ctx)->mu, portMAX_DELAY); }
static void unlock(void *ctx) { xSemaphoreGive(((http_auth_port_t *)ctx)->mu); }

void http_auth_port_init(http_auth_port_t *p, auth_port_t *out)
{
    memset(p, 0, sizeof *p);
    p->mu = xSemaphoreCreateMutexStatic(&p->mu_buf);
    nvs_storage_init(&p->ns, &p->storage);
    memset(out, 0, sizeof *out);
    out->random = rnd;
    out->hash = hash;
    out->verify = verify;
    out->storage = &p->storage;
    out->lock = lock;
    out->unlock = unlock;
    out->ctx = p;
}
