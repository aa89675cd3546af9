/* app/ includes <cjson/cJSON.h> (Debian's layout); ESP-IDF's json component installs cJSON.h at
 * the top of its include path. */
#include <cJSON.h>
