/* What watching the client costs a launch: the calls `mcpcell run` makes before it clones the
 * sandbox to find the process that started it (getppid, fstat of stdout, pidfd_open of the
 * parent, getppid again to catch a parent gone meanwhile) and, at its exit, the close of that
 * pidfd. Forks ROUNDS children with a pipe as stdout, as an MCP client starts its server; each
 * child times the sequence once, cold as in a launch, and then 1000 times warm. Prints the
 * median and quartiles of each, in microseconds.
 *
 *   watch_cost ROUNDS
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timing.h"

/* The sequence once; returns -1 when the parent could not be watched. */
static int watch_once(void) {
    pid_t ppid = getppid();
    struct stat st;
    if (fstat(1, &st) || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) || ppid <= 1)
        return -1;
    int fd = (int)syscall(SYS_pidfd_open, ppid, 0);
    if (fd < 0 || getppid() != ppid)
        return -1;
    close(fd);
    return 0;
}

static void report(const char *what, double *t, int rounds) {
    qsort(t, rounds, sizeof *t, cmp_double);
    printf("%-28s median %6.2f us (p25 %.2f, p75 %.2f), %d rounds\n", what, t[rounds / 2],
           t[rounds / 4], t[3 * rounds / 4], rounds);
}

int main(int argc, char **argv) {
    int rounds = argc == 2 ? atoi(argv[1]) : 0;
    if (rounds < 4) {
        fprintf(stderr, "usage: watch_cost ROUNDS (at least 4)\n");
        return 2;
    }
    double *cold = calloc(rounds, sizeof *cold), *warm = calloc(rounds, sizeof *warm);
    if (!cold || !warm) { perror("calloc"); return 1; }
    for (int r = 0; r < rounds; r++) {
        int p[2], out[2];
        if (pipe(p) || pipe(out)) { perror("pipe"); return 1; }
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            if (dup2(out[1], 1) < 0) _exit(2);
            double d[2], t0 = now_us();
            if (watch_once()) _exit(3);
            d[0] = now_us() - t0;
            t0 = now_us();
            for (int i = 0; i < 1000; i++)
                if (watch_once()) _exit(3);
            d[1] = (now_us() - t0) / 1000;
            if (write(p[1], d, sizeof d) != sizeof d) _exit(4);
            _exit(0);
        }
        close(p[1]);
        close(out[1]);
        double d[2];
        if (read(p[0], d, sizeof d) != sizeof d) {
            fprintf(stderr, "watch_cost: the child could not watch its parent (pidfd_open?)\n");
            return 1;
        }
        cold[r] = d[0];
        warm[r] = d[1];
        close(p[0]);
        close(out[0]);
        waitpid(pid, NULL, 0);
    }
    report("watch, first in a process", cold, rounds);
    report("watch, warm (1000 a round)", warm, rounds);
    return 0;
}
