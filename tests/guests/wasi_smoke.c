// A plain WASI program exercising what ordinary C programs use: printf,
// argv, getenv, malloc, clock_gettime and stdio files in a directory
// (preopened as /data under the runtime; DATA_DIR overrides it natively).
// Its output must match the same program compiled natively.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    const char *k = getenv("K");
    printf("K=%s\n", k ? k : "(unset)");

    struct timespec t0, t1;
    if (clock_gettime(CLOCK_MONOTONIC, &t0) != 0) return 10;
    size_t n = 1000;
    long *v = malloc(n * sizeof *v);
    if (!v) return 11;
    long sum = 0;
    for (size_t i = 0; i < n; i++) { v[i] = (long)(i * i); sum += v[i]; }
    free(v);
    if (clock_gettime(CLOCK_MONOTONIC, &t1) != 0) return 12;
    int mono_ok = (t1.tv_sec > t0.tv_sec) || (t1.tv_sec == t0.tv_sec && t1.tv_nsec >= t0.tv_nsec);
    printf("sum=%ld monotonic=%s\n", sum, mono_ok ? "yes" : "no");

    const char *dir = getenv("DATA_DIR");
    if (!dir) dir = "/data";
    char path[512];
    snprintf(path, sizeof path, "%s/input.txt", dir);
    FILE *in = fopen(path, "r");
    if (!in) { printf("cannot open %s\n", path); return 13; }
    char line[256];
    int lines = 0;
    snprintf(path, sizeof path, "%s/output.txt", dir);
    FILE *out = fopen(path, "w");
    if (!out) { printf("cannot create output\n"); return 14; }
    while (fgets(line, sizeof line, in)) {
        lines++;
        line[strcspn(line, "\n")] = 0;
        printf("line %d: %s\n", lines, line);
        fprintf(out, "%d:%s\n", lines, line);
    }
    fclose(in);
    fclose(out);
    printf("lines=%d\n", lines);
    return 3;
}
