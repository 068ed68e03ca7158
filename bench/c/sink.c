/* Reads standard input to EOF and reports how many bytes came and how fast, timed from the
 * first byte to EOF so that the writer's start-up is not counted. One JSON line on stdout
 * (or on the file named by the first argument). */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 17];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long long total = 0;
    double t0 = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) {
            perror("read");
            return 1;
        }
        if (n == 0)
            break;
        if (total == 0)
            t0 = now_s();
        total += n;
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
