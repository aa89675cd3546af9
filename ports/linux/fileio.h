/* fileio: crash-safe file replacement and the file-backed storage_t.
 *
 * file_save_atomic(): write PATH.tmp.PID, fsync it, keep the current PATH as PATH.bak (a hard link
 * renamed over the old backup, so neither PATH nor PATH.bak is ever missing), rename the
 * temporary over PATH, fsync the directory. After a crash at any instant PATH holds either the
 * old or the new complete content, and PATH.bak a complete earlier version. */
#ifndef PORTS_LINUX_FILEIO_H
#define PORTS_LINUX_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "app/storage.h"

/* 0 or a TB_ERR_* (TB_ERR_NOSPACE for a full disk); err gets "step path: strerror". */
int file_save_atomic(const char *path, const void *data, size_t len, bool keep_backup, char *err, size_t errlen);
/* Read a whole file (at most cap bytes). TB_ERR_NOTFOUND, TB_ERR_TOO_LARGE, TB_ERR_IO. */
int file_load(const char *path, void *buf, size_t cap, size_t *len, char *err, size_t errlen);
/* mkdir -p with mode 0750. 0 or -1 (errno). */
int file_mkdirs(const char *dir);

/* Removes the temporary files that file_save_atomic() leaves when it is interrupted (power cut,
 * kill -9, a full disk while closing): regular files in dir named NAME.tmp.PID (this covers
 * NAME.bak.tmp.PID too) whose process is no longer running, or is this one. prefix: only names
 * starting with it (e.g. "gw.json" for a configuration file outside the state directory), or
 * NULL for every such file. Each removal is logged at warn level. Returns the number removed, or
 * -1 (errno) if dir cannot be read. Call at start, before anything saves. */
int file_remove_orphans(const char *dir, const char *prefix);

typedef struct {
    char dir[256];
    char error[600]; /* the last save/load failure, for storage_t.error */
} file_storage_t;

/* storage_t over a directory: object "energy" is DIR/energy. Not thread-safe: one owner. */
void file_storage_init(file_storage_t *fs, storage_t *out, const char *dir);

#endif
