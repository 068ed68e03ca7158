/* Writes a file to standard output (a pipe) with splice(2): pages move from the page cache
 * into the pipe without a copy, so the source of a throughput test costs almost no CPU and
 * leaves both cores to the process under test and the sink. Falls back to read/write when
 * stdout is not a pipe. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static char buf[1 << 17];

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    for (;;) {
        ssize_t n = splice(fd, NULL, 1, NULL, 1 << 20, SPLICE_F_MORE);
        if (n == 0)
            return 0;
        if (n < 0)
            break;
    }
    /* Not a pipe: copy. */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return 0;
        if (n < 0 || write(1, buf, n) != n) {
            perror("pump");
            return 1;
        }
    }
}
