/* mem_ports: in-memory test doubles of two platform ports: named-object storage (app/storage.h)
 * and the auth module's randomness and password hash (app/auth.h). Deterministic, no files, no
 * real cryptography: the "hash" is "$fake$" followed by the password, so that a test can see what
 * was stored. Plain C (no cmocka): shared by the unit tests and the fuzz harnesses. */
#ifndef TB_TEST_MEM_PORTS_H
#define TB_TEST_MEM_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/auth.h"
#include "app/storage.h"

#define MEM_STORE_OBJS 4u
#define MEM_STORE_CAP 1024u

typedef struct {
    struct {
        char name[32];
        char data[MEM_STORE_CAP + 1u]; /* the bytes saved, NUL-terminated for tests that read text */
        size_t len;
        bool used;
    } obj[MEM_STORE_OBJS];
    int fail_save;  /* non-zero: every save fails with this code (TB_ERR_IO, TB_ERR_NOSPACE, ...) */
    unsigned saves; /* successful saves */
    storage_t port; /* save/load of this store; valid after mem_store_init */
} mem_store_t;

/* Empty store; saves beyond MEM_STORE_OBJS names or MEM_STORE_CAP bytes fail with TB_ERR_NOSPACE. */
void mem_store_init(mem_store_t *m);
/* The saved object as text (NULL if never saved); *len gets its length when len is not NULL. */
const char *mem_store_get(const mem_store_t *m, const char *name, size_t *len);

typedef struct {
    uint32_t rnd;       /* state of the random generator (an LCG: deterministic, no short period) */
    unsigned hashes;    /* calls of the hash */
    unsigned verifies;  /* calls of verify */
    auth_port_t port;   /* random/hash/verify of this fake, ctx = this, no lock; valid after init */
} fake_auth_t;

/* A port for auth_init() whose objects go to `storage`; `seed` starts the random bytes. A test
 * may set port.lock/unlock afterwards (they receive this fake as ctx). */
void fake_auth_init(fake_auth_t *f, uint32_t seed, const storage_t *storage);

#endif
