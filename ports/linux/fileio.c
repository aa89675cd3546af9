#include "ports/linux/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/log.h"
#include "core/tb_err.h"

static int fail(char *err, size_t errlen, const char *step, const char *path)
{
    int e = errno;
    if (err) {
        snprintf(err, errlen, "%s %s: %s", step, path, strerror(e));
    }
    return e == ENOSPC || e == EDQUOT ? TB_ERR_NOSPACE : TB_ERR_IO;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int file_save_atomic(const char *path, const void *data, size_t len, bool keep_backup, char *err, size_t errlen)
{
    char tmp[512], bak[512], dirbuf[512];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp ||
        (size_t)snprintf(bak, sizeof bak, "%s.bak", path) >= sizeof bak ||
        (size_t)snprintf(dirbuf, sizeof dirbuf, "%s", path) >= sizeof dirbuf) {
        errno = ENAMETOOLONG;
        return fail(err, errlen, "path too long:", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        return fail(err, errlen, "cannot create", tmp);
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int rc = fail(err, errlen, "cannot write", tmp);
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd) != 0) {
        int rc = fail(err, errlen, "cannot close", tmp);
        unlink(tmp);
        return rc;
    }
    if (keep_backup && access(path, F_OK) == 0) {
        /* PATH.bak becomes the previous version, atomically too: a hard link of PATH under a
         * temporary name renamed over PATH.bak, so the backup is never missing either. PATH
         * itself stays in place until the rename below. */
        char bak_tmp[560];
        snprintf(bak_tmp, sizeof bak_tmp, "%s.tmp.%ld", bak, (long)getpid());
        if ((unlink(bak_tmp) != 0 && errno != ENOENT) || link(path, bak_tmp) != 0 || rename(bak_tmp, bak) != 0) {
            int rc = fail(err, errlen, "cannot keep a backup as", bak);
            unlink(bak_tmp);
            unlink(tmp);
            return rc;
        }
    }
    if (rename(tmp, path) != 0) {
        int rc = fail(err, errlen, "cannot replace", path);
        unlink(tmp);
        return rc;
    }
    const char *dir = dirname(dirbuf);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return fail(err, errlen, "cannot open directory", dir);
    }
    if (fsync(dfd) != 0) {
        int rc = fail(err, errlen, "cannot sync directory", dir);
        close(dfd);
        return rc;
    }
    close(dfd);
    return TB_OK;
}

int file_load(const char *path, void *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            if (err) {
                snprintf(err, errlen, "%s does not exist", path);
            }
            return TB_ERR_NOTFOUND;
        }
        return fail(err, errlen, "cannot open", path);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            char extra;
            ssize_t k = read(fd, &extra, 1);
            close(fd);
            if (k > 0) {
                if (err) {
                    snprintf(err, errlen, "%s is larger than %zu bytes", path, cap);
                }
                return TB_ERR_TOO_LARGE;
            }
            break;
        }
        ssize_t k = read(fd, (char *)buf + n, cap - n);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            int rc = fail(err, errlen, "cannot read", path);
            close(fd);
            return rc;
        }
        if (k == 0) {
            close(fd);
            break;
        }
        n += (size_t)k;
    }
    *len = n;
    return TB_OK;
}

int file_mkdirs(const char *dir)
{
    char p[512];
    if ((size_t)snprintf(p, sizeof p, "%s", dir) >= sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                return -1;
            }
            *s = '/';
        }
    }
    if (mkdir(p, 0750) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

/* ---- orphans of interrupted saves ------------------------------------------------------------ */

/* NAME.tmp.PID -> PID, or 0 if name is not of that form. */
static long tmp_pid(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) {
        return 0;
    }
    const char *digits = t + 5;
    const char *next = strstr(digits, ".tmp.");
    if (next) {
        return tmp_pid(next); /* "x.tmp.1.tmp.2": the last one decides */
    }
    if (*digits < '1' || *digits > '9' || strlen(digits) > 9u) {
        return 0;
    }
    for (const char *c = digits; *c; c++) {
        if (*c < '0' || *c > '9') {
            return 0;
        }
    }
    return strtol(digits, NULL, 10);
}

int file_remove_orphans(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) {
        return -1;
    }
    int removed = 0;
    size_t plen = prefix ? strlen(prefix) : 0u;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = tmp_pid(e->d_name);
        if (pid <= 0 || (prefix && strncmp(e->d_name, prefix, plen) != 0)) {
            continue;
        }
        /* A live process other than this one may be in the middle of its save: leave its file. A
         * restart (exec) keeps the PID, and this process saves nothing before it has cleaned up. */
        if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
            continue;
        }
        char path[768];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) {
            continue;
        }
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (unlink(path) == 0) {
            LOGW("storage", "removed %s (%lld bytes), left by a save that was interrupted (process %ld)", path,
                 (long long)st.st_size, pid);
            removed++;
        } else {
            LOGW("storage", "cannot remove %s, left by an interrupted save: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}

/* ---- storage_t over a directory -------------------------------------------------------------- */

static int fs_save(void *ctx, const char *name, const void *data, size_t len)
{
    file_storage_t *fs = ctx;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fs->dir, name);
    fs->error[0] = '\0';
    int rc = file_save_atomic(path, data, len, false, fs->error, sizeof fs->error);
    if (rc != TB_OK) {
        LOGW("storage", "%s", fs->error);
    }
    return rc;
}

static int fs_load(void *ctx, const char *name, void *buf, size_t cap, size_t *len)
{
    file_storage_t *fs = ctx;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fs->dir, name);
    fs->error[0] = '\0';
    int rc = file_load(path, buf, cap, len, fs->error, sizeof fs->error);
    if (rc != TB_OK && rc != TB_ERR_NOTFOUND) {
        LOGW("storage", "%s", fs->error);
    }
    return rc;
}

static const char *fs_error(void *ctx)
{
    const file_storage_t *fs = ctx;
    return fs->error;
}

void file_storage_init(file_storage_t *fs, storage_t *out, const char *dir)
{
    snprintf(fs->dir, sizeof fs->dir, "%s", dir);
    fs->error[0] = '\0';
    out->save = fs_save;
    out->load = fs_load;
    out->ctx = fs;
    out->error = fs_error;
}
