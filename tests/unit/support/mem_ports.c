#include "mem_ports.h"

#include <stdio.h>
#include <string.h>

#include "core/tb_err.h"

static int find(const mem_store_t *m, const char *name)
{
    for (unsigned i = 0; i < MEM_STORE_OBJS; i++) {
        if (m->obj[i].used && strcmp(m->obj[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int store_save(void *ctx, const char *name, const void *data, size_t len)
{
    mem_store_t *m = ctx;
    if (m->fail_save != 0) {
        return m->fail_save;
    }
    int i = find(m, name);
    for (unsigned k = 0; i < 0 && k < MEM_STORE_OBJS; k++) {
        if (!m->obj[k].used) {
            i = (int)k;
        }
    }
    if (i < 0 || len > MEM_STORE_CAP || strlen(name) >= sizeof m->obj[i].name) {
        return TB_ERR_NOSPACE;
    }
    m->obj[i].used = true;
    snprintf(m->obj[i].name, sizeof m->obj[i].name, "%s", name);
    memcpy(m->obj[i].data, data, len);
    m->obj[i].data[len] = '\0';
    m->obj[i].len = len;
    m->saves++;
    return TB_OK;
}

static int store_load(void *ctx, const char *name, void *buf, size_t cap, size_t *len)
{
    const mem_store_t *m = ctx;
    int i = find(m, name);
    if (i < 0) {
        return TB_ERR_NOTFOUND;
    }
    if (m->obj[i].len > cap) {
        return TB_ERR_TOO_LARGE;
    }
    memcpy(buf, m->obj[i].data, m->obj[i].len);
    *len = m->obj[i].len;
    return TB_OK;
}

void mem_store_init(mem_store_t *m)
{
    memset(m, 0, sizeof *m);
    m->port = (storage_t){store_save, store_load, m, NULL};
}

const char *mem_store_get(const mem_store_t *m, const char *name, size_t *len)
{
    int i = find(m, name);
    if (i < 0) {
        return NULL;
    }
    if (len) {
        *len = m->obj[i].len;
    }
    return m->obj[i].data;
}

static int fake_random(void *ctx, void *buf, size_t n)
{
    fake_auth_t *f = ctx;
    uint8_t *b = buf;
    for (size_t i = 0; i < n; i++) {
        f->rnd = f->rnd * 1664525u + 1013904223u;
        b[i] = (uint8_t)(f->rnd >> 24);
    }
    return TB_OK;
}

static int fake_hash(void *ctx, const char *pw, char *out, size_t cap)
{
    fake_auth_t *f = ctx;
    f->hashes++;
    snprintf(out, cap, "$fake$%s", pw);
    return TB_OK;
}

static int fake_verify(void *ctx, const char *enc, const char *pw)
{
    fake_auth_t *f = ctx;
    f->verifies++;
    return strncmp(enc, "$fake$", 6) == 0 && strcmp(enc + 6, pw) == 0 ? TB_OK : TB_ERR_AUTH;
}

void fake_auth_init(fake_auth_t *f, uint32_t seed, const storage_t *storage)
{
    memset(f, 0, sizeof *f);
    f->rnd = seed;
    f->port = (auth_port_t){fake_random, fake_hash, fake_verify, storage, NULL, NULL, f};
}
