/* What attaching a seccomp filter costs: forks ROUNDS children, each of which attaches the
 * classic BPF program in FILE (raw `struct sock_filter` entries, as bench/lib/filter_dump.py
 * writes them) and reports how long seccomp(2) took; then the same with a one-instruction
 * program (RET ALLOW). Prints the median and quartiles of each, in microseconds.
 *
 *   attach_cost FILE ROUNDS
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

/* One child per round; the child's time comes back through a pipe. */
static void measure(const char *what, struct sock_fprog *prog, int rounds) {
    double *t = calloc(rounds, sizeof *t);
    if (!t) { perror("calloc"); exit(1); }
    for (int r = 0; r < rounds; r++) {
        int p[2];
        if (pipe(p)) { perror("pipe"); exit(1); }
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); exit(1); }
        if (pid == 0) {
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) _exit(2);
            double t0 = now_us();
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog)) _exit(3);
            double d = now_us() - t0;
            if (write(p[1], &d, sizeof d) != sizeof d) _exit(4);
            _exit(0);
        }
        close(p[1]);
        if (read(p[0], &t[r], sizeof t[r]) != sizeof t[r]) {
            fprintf(stderr, "attach_cost: the child could not attach the program\n");
            exit(1);
        }
        close(p[0]);
        waitpid(pid, NULL, 0);
    }
    qsort(t, rounds, sizeof *t, cmp_double);
    printf("%-34s %4u instructions: median %7.1f us (p25 %.1f, p75 %.1f), %d rounds\n", what,
           prog->len, t[rounds / 2], t[rounds / 4], t[3 * rounds / 4], rounds);
    free(t);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: attach_cost FILE ROUNDS\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    static struct sock_filter code[BPF_MAXINSNS];
    size_t n = fread(code, sizeof code[0], BPF_MAXINSNS, f);
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "attach_cost: %s holds no instructions\n", argv[1]);
        return 1;
    }
    int rounds = atoi(argv[2]);
    if (rounds < 4) rounds = 4;
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = code};
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog one = {.len = 1, .filter = allow};
    measure(argv[1], &prog, rounds);
    measure("one RET ALLOW", &one, rounds);
    return 0;
}
