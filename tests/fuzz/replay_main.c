/* Corpus replay driver for libFuzzer harnesses built without libFuzzer (gcc, sanitizer builds).
 * Usage: fuzz_X DIR|FILE...  - runs LLVMFuzzerTestOneInput on every file; exit 0 if all return. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    /* Copy into an exact-size heap block so ASan catches reads past the input. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        return 1;
    }
    memcpy(exact, buf, n);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            if (!d) {
                perror(argv[i]);
                return 1;
            }
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.') {
                    continue;
                }
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
                if (run_file(p) != 0) {
                    closedir(d);
                    return 1;
                }
                files++;
            }
            closedir(d);
        } else {
            if (run_file(argv[i]) != 0) {
                return 1;
            }
            files++;
        }
    }
    printf("replayed %d inputs\n", files);
    return files > 0 ? 0 : 1;
}
