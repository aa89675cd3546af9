/* http_auth: the Linux auth_port_t (app/auth.h).
 *
 * Password hash: libsodium crypto_pwhash_str_alg with Argon2id v1.3, t = 3 passes over 12 MiB
 * (OWASP's Argon2id recommendation), 16-byte random salt; the encoded string carries the salt and
 * the cost, so a later change of the cost still verifies old hashes. At most one hash runs at a
 * time (a mutex), which bounds memory to 12 MiB however many logins arrive together; the login
 * throttling of app/auth.c bounds how many threads wait for it (AUTH_HASH_INFLIGHT) and the CPU.
 * Randomness: randombytes_buf (getrandom(2)). Storage: files in the
 * state directory, replaced atomically (fileio.h, mode 0640). */
#ifndef PORTS_LINUX_HTTP_AUTH_H
#define PORTS_LINUX_HTTP_AUTH_H

#include <pthread.h>

#include "app/auth.h"
#include "ports/linux/fileio.h"

#define HTTP_AUTH_OPSLIMIT 3u
#define HTTP_AUTH_MEMLIMIT (12u * 1024u * 1024u)

typedef struct {
    pthread_mutex_t mu;      /* auth_t state */
    pthread_mutex_t hash_mu; /* one Argon2id computation at a time */
    file_storage_t fs;
    storage_t storage;
} http_auth_port_t;

/* Returns 0, or -1 if libsodium cannot initialise (no randomness). Fills *out. */
int http_auth_port_init(http_auth_port_t *p, const char *state_dir, auth_port_t *out);
void http_auth_port_destroy(http_auth_port_t *p);

#endif
