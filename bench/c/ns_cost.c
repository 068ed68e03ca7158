/* What each namespace costs a clone, and the process's exit and reaping with it: ROUNDS
 * clones of a child that exits at once, with no namespace, with each of the sandbox's
 * namespaces but the network one (mount, PID, IPC, UTS, cgroup) alone, and with all five;
 * the medians of the clone (as its caller sees it) and of clone + exit + reap are printed.
 * With `user` every clone also makes a user namespace (an ordinary user's sandbox does; as
 * root it is optional). A clone that makes no namespace is what an ordinary user's sandbox
 * is cloned with since the process that made its namespaces clones it (bench/ANALYSIS.md
 * §1.32), but for the cgroup namespace.
 *
 *   ns_cost ROUNDS [user]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ns_cost ROUNDS [user]\n");
        return 2;
    }
    int rounds = atoi(argv[1]);
    long user = argc > 2 && strcmp(argv[2], "user") == 0 ? CLONE_NEWUSER : 0;
    if (rounds < 1)
        return 2;
    struct {
        const char *name;
        long flags;
    } cases[] = {
        {"none", 0},
        {"mount", CLONE_NEWNS},
        {"pid", CLONE_NEWPID},
        {"ipc", CLONE_NEWIPC},
        {"uts", CLONE_NEWUTS},
        {"cgroup", CLONE_NEWCGROUP},
        {"all five", CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP},
    };
    double *cl = calloc(rounds, sizeof *cl), *all = calloc(rounds, sizeof *all);
    if (!cl || !all)
        return 1;
    printf("%s, %d rounds, medians:\n", user ? "with a user namespace" : "without a user namespace",
           rounds);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        for (int i = 0; i < rounds; i++) {
            double t0 = now_us();
            long pid = syscall(SYS_clone, cases[c].flags | user | SIGCHLD, 0, 0, 0, 0);
            if (pid == 0)
                _exit(0);
            double t1 = now_us();
            if (pid < 0) {
                perror(cases[c].name);
                return 1;
            }
            int st;
            waitpid((pid_t)pid, &st, 0);
            cl[i] = t1 - t0;
            all[i] = now_us() - t0;
        }
        qsort(cl, rounds, sizeof *cl, cmp_double);
        qsort(all, rounds, sizeof *all, cmp_double);
        printf("  %-9s clone %7.1f us   clone, exit and reap %7.1f us\n", cases[c].name,
               cl[rounds / 2], all[rounds / 2]);
    }
    return 0;
}
