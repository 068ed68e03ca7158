/* Timing shared by the benchmark's C programs: a stream from its first byte to EOF (sink,
 * tcpget), and the clock and the sort of the per-round programs (attach_cost, bind_cost,
 * ns_cost, syscall_loop). */
#include <time.h>
#include <unistd.h>

static inline double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* For qsort over doubles. */
static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One read(2) into buf; the clock starts at the first byte, and *total counts them. */
static inline ssize_t timed_read(int fd, char *buf, size_t size, long long *total, double *t0) {
    ssize_t n = read(fd, buf, size);
    if (n > 0) {
        if (*total == 0)
            *t0 = now_s();
        *total += n;
    }
    return n;
}
