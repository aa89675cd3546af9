/* libFuzzer harness for app/json_in, the gate in front of every JSON parse (HTTP bodies, WebSocket
 * messages, MQTT payloads, configuration and state files).
 *
 * Invariants checked (abort on violation; NDEBUG-proof):
 *   - json_in_parse never crashes, whatever the depth or the bytes (the scan is iterative; cJSON
 *     only ever sees documents at most JSON_IN_MAX_DEPTH deep);
 *   - a refusal always carries a reason and a non-empty, NUL-terminated message;
 *   - an accepted document is nested at most JSON_IN_MAX_DEPTH deep, names no key twice in one
 *     object, has no object with more than JSON_IN_MAX_MEMBERS members, and every string (keys
 *     and values) is valid UTF-8 (raw control characters and \u0000 were refused before);
 *   - json_in_parse accepts exactly when json_in_scan accepts and cJSON then parses it with only
 *     white space after it and no duplicate key (the scan never refuses a document the parse
 *     would take for a different reason);
 *   - what was accepted, printed by cJSON, passes the gate again (a round trip through the
 *     gateway's own output is never refused).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/json_in.h"
#include "app/utf8.h"

#define CHECK(c)                                                                                        \
    do {                                                                                                \
        if (!(c)) {                                                                                     \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)

static void check_tree(const cJSON *v, int depth)
{
    CHECK(depth <= JSON_IN_MAX_DEPTH);
    if (v->string) {
        CHECK(utf8_valid(v->string, strlen(v->string)));
    }
    if (cJSON_IsString(v)) {
        CHECK(utf8_valid(v->valuestring, strlen(v->valuestring)));
    }
    unsigned n = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        n++;
        if (cJSON_IsObject(v)) {
            for (const cJSON *d = v->child; d != c; d = d->next) {
                CHECK(strcmp(c->string, d->string) != 0);
            }
        }
        if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
            check_tree(c, depth + 1);
        } else {
            check_tree(c, depth);
        }
    }
    if (cJSON_IsObject(v)) {
        CHECK(n <= JSON_IN_MAX_MEMBERS);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_in_err_t e;
    cJSON *root = json_in_parse(text, size, &e);
    json_in_err_t e2;
    int scan = json_in_scan(text, size, &e2);
    if (!root) {
        CHECK(e.reason != JSON_IN_OK);
        CHECK(e.msg[0] != '\0' && memchr(e.msg, '\0', sizeof e.msg) != NULL);
        CHECK(json_in_reason_str(e.reason)[0] != '\0');
        if (scan != 0) {
            CHECK(e2.reason == e.reason);
        } else {
            CHECK(e.reason == JSON_IN_SYNTAX || e.reason == JSON_IN_TRAILING || e.reason == JSON_IN_DUPLICATE);
        }
        return 0;
    }
    CHECK(scan == 0);
    check_tree(root, (cJSON_IsObject(root) || cJSON_IsArray(root)) ? 1 : 0);
    char *out = cJSON_PrintUnformatted(root);
    if (out) {
        cJSON *again = json_in_parse(out, strlen(out), &e);
        CHECK(again != NULL);
        cJSON_Delete(again);
        free(out);
    }
    cJSON_Delete(root);
    return 0;
}
