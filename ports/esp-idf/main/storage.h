/* storage: app/storage.h on NVS (the twin of ports/linux/fileio.c's file_storage).
 *
 * Each named object (energy counters, web-admin.json, web-setup-code, config.json and its .bak) is
 * one NVS blob in namespace "tinybms". save() is one nvs_set_blob + nvs_commit: NVS writes the
 * new blob's pages and its index before it erases the old one, so after a power cut at any point
 * the object is the old or the new complete content (the all-or-nothing contract of storage_t).
 * Names longer than 15 characters (NVS keys) are refused with TB_ERR_ARG.
 * Threads: NVS serialises its own calls; the handle is opened per call. */
#ifndef PORTS_ESP_STORAGE_H
#define PORTS_ESP_STORAGE_H

#include <stddef.h>

#include "app/storage.h"

typedef struct {
    char err[160];
} nvs_storage_t;

/* nvs_flash_init() first (main.c). */
void nvs_storage_init(nvs_storage_t *ns, storage_t *out);
/* storage_t.load with the message the config loader wants ("err" filled on failure). */
int nvs_storage_load_text(const char *name, char *buf, size_t cap, size_t *len, char *err, size_t errlen);
/* Save name, first copying the current content to backup (NULL: no backup), like the file saver's
 * .bak: the backup is always the last good version. */
int nvs_storage_save_with_backup(const char *name, const char *backup, const void *data, size_t len, char *err,
                                 size_t errlen);
#endif
