/* storage: the persistence port used by app/ (energy counters, history, configuration, web
 * credentials). Linux implements it with files and atomic replace (ports/linux/fileio.h), the
 * ESP32 firmware with NVS blobs (ports/esp-idf/main/storage.c); tests use a memory fake.
 *
 * save() must be atomic: after a crash or power cut at any point the named object is either the
 * old complete content or the new complete content. */
#ifndef APP_STORAGE_H
#define APP_STORAGE_H

#include <stddef.h>

typedef struct {
    /* TB_OK or TB_ERR_IO / TB_ERR_NOSPACE (disk full). */
    int (*save)(void *ctx, const char *name, const void *data, size_t len);
    /* TB_OK with *len set, TB_ERR_NOTFOUND if absent, TB_ERR_TOO_LARGE if cap is too small, TB_ERR_IO. */
    int (*load)(void *ctx, const char *name, void *buf, size_t cap, size_t *len);
    void *ctx;
    /* Optional (may be NULL): the last failure of save() or load() as one sentence with the OS's
     * reason ("cannot write /var/lib/x/energy.tmp.12: No space left on device"), for the log.
     * Valid until the next call; "" if none. */
    const char *(*error)(void *ctx);
} storage_t;

#endif
