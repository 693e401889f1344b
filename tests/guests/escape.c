// Tries to open each path given on the command line and prints whether it
// could read it. Used to check that the runtime keeps guests inside their
// preopened directories (no `..`, no symlink escapes).
#include <stdio.h>

int main(int argc, char **argv) {
    int opened = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        char buf[64] = {0};
        if (f && fgets(buf, sizeof buf, f)) {
            printf("OPENED %s: %s\n", argv[i], buf);
            opened++;
        } else {
            printf("REFUSED %s\n", argv[i]);
        }
        if (f) fclose(f);
    }
    return opened;
}
