#include "storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tb_err.h"
#include "nvs.h"

#define NS "tinybms"

static int key_ok(const char *name) { return name && name[0] && strlen(name) < NVS_KEY_NAME_MAX_SIZE; }

static int map_err(esp_err_t e)
{
    switch (e) {
    case ESP_OK: return TB_OK;
    case ESP_ERR_NVS_NOT_FOUND: return TB_ERR_NOTFOUND;
    case ESP_ERR_NVS_NOT_ENOUGH_SPACE: return TB_ERR_NOSPACE;
    case ESP_ERR_NVS_INVALID_LENGTH: return TB_ERR_TOO_LARGE;
    default: return TB_ERR_IO;
    }
}

static int save_blob(const char *name, const void *data, size_t len, char *err, size_t errlen)
{
    if (!key_ok(name)) {
        snprintf(err, errlen, "storage name \"%s\" is not a valid NVS key (1..15 characters)", name ? name : "");
        return TB_ERR_ARG;
    }
    nvs_handle_t h;
    esp_err_t e = nvs_open(NS, NVS_READWRITE, &h);
    const char *step = "nvs_open";
    if (e == ESP_OK) {
        step = "nvs_set_blob";
        e = nvs_set_blob(h, name, len ? data : "", len);
        if (e == ESP_OK) {
            step = "nvs_commit";
            e = nvs_commit(h);
        }
        nvs_close(h);
    }
    if (e != ESP_OK) {
        snprintf(err, errlen, "cannot save %s (%u bytes) in NVS: %s: %s", name, (unsigned)len, step, esp_err_to_name(e));
    }
    return map_err(e);
}

int nvs_storage_load_text(const char *name, char *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    if (!key_ok(name)) {
        snprintf(err, errlen, "storage name \"%s\" is not a valid NVS key", name ? name : "");
        return TB_ERR_ARG;
    }
    nvs_handle_t h;
    esp_err_t e = nvs_open(NS, NVS_READONLY, &h);
    if (e == ESP_ERR_NVS_NOT_FOUND) { /* the namespace does not exist yet: nothing saved */
        return TB_ERR_NOTFOUND;
    }
    size_t n = 0;
    if (e == ESP_OK) {
        e = nvs_get_blob(h, name, NULL, &n);
        if (e == ESP_OK && n > cap) {
            nvs_close(h);
            snprintf(err, errlen, "%s in NVS is %u bytes, more than the %u this build reads", name, (unsigned)n,
                     (unsigned)cap);
            return TB_ERR_TOO_LARGE;
        }
        if (e == ESP_OK) {
            e = nvs_get_blob(h, name, buf, &n);
        }
        nvs_close(h);
    }
    if (e != ESP_OK) {
        if (e != ESP_ERR_NVS_NOT_FOUND) {
            snprintf(err, errlen, "cannot read %s from NVS: %s", name, esp_err_to_name(e));
        }
        return map_err(e);
    }
    *len = n;
    return TB_OK;
}

int nvs_storage_save_with_backup(const char *name, const char *backup, const void *data, size_t len, char *err,
                                 size_t errlen)
{
    if (backup) {
        /* the current version becomes the backup, only if it exists and is readable */
        nvs_handle_t h;
        size_t n = 0;
        if (nvs_open(NS, NVS_READONLY, &h) == ESP_OK) {
            esp_err_t e = nvs_get_blob(h, name, NULL, &n);
            char *old = e == ESP_OK && n ? malloc(n) : NULL;
            if (old && nvs_get_blob(h, name, old, &n) == ESP_OK) {
                nvs_close(h);
                int rc = save_blob(backup, old, n, err, errlen);
                free(old);
                if (rc != TB_OK) {
                    return rc;
                }
            } else {
                free(old);
                nvs_close(h);
            }
        }
    }
    return save_blob(name, data, len, err, errlen);
}

static int st_save(void *ctx, const char *name, const void *data, size_t len)
{
    nvs_storage_t *ns = ctx;
    return save_blob(name, data, len, ns->err, sizeof ns->err);
}

static int st_load(void *ctx, const char *name, void *buf, size_t cap, size_t *len)
{
    nvs_storage_t *ns = ctx;
    return nvs_storage_load_text(name, buf, cap, len, ns->err, sizeof ns->err);
}

static const char *st_error(void *ctx) { return ((nvs_storage_t *)ctx)->err; }

void nvs_storage_init(nvs_storage_t *ns, storage_t *out)
{
    memset(ns, 0, sizeof *ns);
    out->save = st_save;
    out->load = st_load;
    out->error = st_error;
    out->ctx = ns;
}
