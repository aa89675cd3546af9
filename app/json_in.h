/* json_in: the one gate every JSON document from outside passes before it is parsed.
 *
 * HTTP bodies, WebSocket messages, MQTT payloads and the configuration and state files are all
 * parsed by cJSON, whose parser and cJSON_Delete() recurse once per level of nesting: a 2 KB body
 * of 1000 '[' overflowed a web worker's stack and ended the process. json_in_parse() first scans
 * the text without recursion and refuses, with a reason and a line number:
 *   - nesting deeper than JSON_IN_MAX_DEPTH objects/arrays (the deepest document the gateway
 *     accepts, config.json, has 3 levels);
 *   - a NUL byte, bytes that are not UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated
 *     sequences), a control character inside a string, a \u0000 escape (cJSON would silently cut
 *     the string there) and a lone UTF-16 surrogate escape;
 *   - an object with more than JSON_IN_MAX_MEMBERS members;
 * then parses with cJSON (depth now bounded), refuses anything but white space after the document,
 * and refuses an object that names the same key twice (cJSON keeps both; the first would win for
 * some readers and the last for others).
 *
 * Errors name where they are: the key path of the value ("mqtt.password") when the scan knows it.
 *
 * Thread safety: reentrant; uses no global state (it never reads cJSON_GetErrorPtr(), which is a
 * global written by every parse). Memory: cJSON's allocations only, freed on every failure path.
 */
#ifndef APP_JSON_IN_H
#define APP_JSON_IN_H

#include <stddef.h>

#include <cjson/cJSON.h>

#ifndef JSON_IN_MAX_DEPTH
#define JSON_IN_MAX_DEPTH 16
#endif
#if JSON_IN_MAX_DEPTH < 4 || JSON_IN_MAX_DEPTH > 64
#error "JSON_IN_MAX_DEPTH must be 4..64"
#endif

#ifndef JSON_IN_MAX_MEMBERS
#define JSON_IN_MAX_MEMBERS 1024
#endif

/* What was wrong, for callers that can only carry a static reason (json_in_reason_str()). */
typedef enum {
    JSON_IN_OK = 0,
    JSON_IN_SYNTAX,    /* cJSON refused it (or nothing to parse) */
    JSON_IN_TRAILING,  /* data after the document */
    JSON_IN_DEPTH,     /* nested deeper than JSON_IN_MAX_DEPTH */
    JSON_IN_MEMBERS,   /* an object with more than JSON_IN_MAX_MEMBERS members */
    JSON_IN_NUL,       /* a NUL byte or a \u0000 escape */
    JSON_IN_ENCODING,  /* not UTF-8, a raw control character, a lone surrogate escape */
    JSON_IN_DUPLICATE, /* an object names a key twice */
} json_in_reason_t;

typedef struct {
    json_in_reason_t reason;
    int line;      /* 1-based line of the fault, 0 when not tied to a place */
    char path[96]; /* key path of the faulty value ("mqtt.password"), "" when unknown/top level */
    char msg[160]; /* English, no trailing period, e.g. "nested deeper than 16 levels (line 1)" */
} json_in_err_t;

/* Checks and parses text[0..len). len counts the bytes of the document (a terminating NUL, if
 * any, is not part of it). Returns the root on success (the caller frees it with cJSON_Delete()),
 * or NULL with *err filled (err may be NULL). Never reads past text + len. */
cJSON *json_in_parse(const char *text, size_t len, json_in_err_t *err);

/* The check alone, without cJSON: 0 when text passes the scan (depth, UTF-8, NUL, control
 * characters, \u escapes, member count), -1 with *err filled. Exposed for tests and fuzzers. */
int json_in_scan(const char *text, size_t len, json_in_err_t *err);

/* A static English sentence fragment for a reason, e.g. "nested deeper than 16 levels". */
const char *json_in_reason_str(json_in_reason_t r);


#endif
