#include "ports/linux/http_auth.h"

#include <sodium.h>
#include <string.h>

#include "core/tb_err.h"

static int rnd(void *ctx, void *buf, size_t n)
{
    (void)ctx;
    randombytes_buf(buf, n);
    return TB_OK;
}

static int hash(void *ctx, const char *pw, char *out, size_t cap)
{
    http_auth_port_t *p = ctx;
    if (cap < crypto_pwhash_STRBYTES) {
        return TB_ERR_NOSPACE;
    }
    pthread_mutex_lock(&p->hash_mu);
    int rc = crypto_pwhash_str_alg(out, pw, strlen(pw), HTTP_AUTH_OPSLIMIT, HTTP_AUTH_MEMLIMIT,
                                   crypto_pwhash_ALG_ARGON2ID13);
    pthread_mutex_unlock(&p->hash_mu);
    return rc == 0 ? TB_OK : TB_ERR_NOSPACE;
}

static int verify(void *ctx, const char *encoded, const char *pw)
{
    http_auth_port_t *p = ctx;
    pthread_mutex_lock(&p->hash_mu);
    int rc = crypto_pwhash_str_verify(encoded, pw, strlen(pw));
    pthread_mutex_unlock(&p->hash_mu);
    return rc == 0 ? TB_OK : TB_ERR_AUTH;
}

static void lock(void *ctx)
{
    http_auth_port_t *p = ctx;
    pthread_mutex_lock(&p->mu);
}

static void unlock(void *ctx)
{
    http_auth_port_t *p = ctx;
    pthread_mutex_unlock(&p->mu);
}

int http_auth_port_init(http_auth_port_t *p, const char *state_dir, auth_port_t *out)
{
    memset(p, 0, sizeof *p);
    if (sodium_init() < 0) {
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->hash_mu, NULL);
    file_storage_init(&p->fs, &p->storage, state_dir);
    memset(out, 0, sizeof *out);
    out->random = rnd;
    out->hash = hash;
    out->verify = verify;
    out->storage = &p->storage;
    out->lock = lock;
    out->unlock = unlock;
    out->ctx = p;
    return 0;
}

void http_auth_port_destroy(http_auth_port_t *p)
{
    pthread_mutex_destroy(&p->hash_mu);
    pthread_mutex_destroy(&p->mu);
}
