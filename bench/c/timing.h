/* Timing a stream from its first byte to EOF, shared by sink and tcpget. */
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One read(2) into buf; the clock starts at the first byte, and *total counts them. */
static ssize_t timed_read(int fd, char *buf, size_t size, long long *total, double *t0) {
    ssize_t n = read(fd, buf, size);
    if (n > 0) {
        if (*total == 0)
            *t0 = now_s();
        *total += n;
    }
    return n;
}
