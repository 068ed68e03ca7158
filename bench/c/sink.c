/* Reads standard input to EOF and reports how many bytes came and how fast, timed from the
 * first byte to EOF so that the writer's start-up is not counted. One JSON line on stdout
 * (or on the file named by the first argument). */
#define _GNU_SOURCE
#include <stdio.h>

#include "timing.h"

static char buf[1 << 17];

int main(int argc, char **argv) {
    long long total = 0;
    double t0 = 0;
    for (;;) {
        ssize_t n = timed_read(0, buf, sizeof buf, &total, &t0);
        if (n < 0) {
            perror("read");
            return 1;
        }
        if (n == 0)
            break;
    }
    double secs = total ? now_s() - t0 : 0;
    FILE *out = argc > 1 ? fopen(argv[1], "w") : stdout;
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    fprintf(out, "{\"bytes\": %lld, \"seconds\": %.6f}\n", total, secs);
    return 0;
}
