/*
 * Replays a fuzz target over its committed corpus as an ordinary test (SQLite's fuzzcheck idea).
 * Usage: replay_<target> CORPUS_DIR. Fails when the directory is missing or empty, so a lost
 * corpus cannot pass silently. Crashes and sanitizer reports fail the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (d == NULL) {
        fprintf(stderr, "replay: cannot open corpus \"%s\"\n", argv[1]);
        return 1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        struct stat st;
        if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
            fclose(f);
            continue;
        }
        size_t size = (size_t)st.st_size;
        uint8_t *buf = malloc(size ? size : 1);
        if (buf == NULL || fread(buf, 1, size, f) != size) {
            fprintf(stderr, "replay: cannot read \"%s\"\n", path);
            free(buf);
            fclose(f);
            closedir(d);
            return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, size);
        free(buf);
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "replay: corpus \"%s\" is empty\n", argv[1]);
        return 1;
    }
    printf("replayed %d inputs from %s\n", n, argv[1]);
    return 0;
}
