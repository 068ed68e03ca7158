/* Times one cheap system call in a loop and prints nanoseconds per call.
 *
 *   syscall_loop getppid|stat|open ITERATIONS [--allow-all-filter] [--filter FILE] [--landlock] [--path P]
 *
 * getppid is the cheapest real system call (glibc does not cache it); stat("/usr") adds a
 * path walk; open is open(P, O_RDONLY) + close of a file deep in a directory tree (a module
 * of npm's own node_modules by default), which Landlock checks and the seccomp filter runs
 * its argument rules for: the call a Node or Python server makes for every module it loads. With --allow-all-filter the program first installs a seccomp filter of one
 * instruction (RET ALLOW): the fixed cost any filter adds, the reference for mcpcell's.
 * With --filter it first installs the program in FILE (raw struct sock_filter entries, as
 * bench/lib/filter_dump.py reads mcpcell's from a sandboxed process): mcpcell's filter alone,
 * without its Landlock domain or namespaces.
 * With --landlock it first restricts itself with a Landlock ruleset that handles every
 * filesystem right and grants them all beneath / (no seccomp filter): what a Landlock
 * domain alone adds to a path walk.
 * The loop runs in 9 blocks; the median block is printed, as JSON on one line.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <fcntl.h>
#include <stdint.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

#define BLOCKS 9

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void allow_all_filter(void) {
    struct sock_filter insn[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = insn};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        perror("seccomp");
        exit(2);
    }
}

static void filter_from(const char *file) {
    static struct sock_filter insn[4096];
    FILE *f = fopen(file, "rb");
    size_t n = f ? fread(insn, sizeof insn[0], sizeof insn / sizeof insn[0], f) : 0;
    if (!f || n == 0 || ferror(f)) {
        fprintf(stderr, "%s: no seccomp program read\n", file);
        exit(2);
    }
    fclose(f);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = insn};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        perror("seccomp");
        exit(2);
    }
}

/* The Landlock ABI, spelled out: Debian 12's kernel headers predate parts of it. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
};
struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static void landlock_everything_beneath_root(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* VERSION */);
    if (abi < 1) {
        perror("landlock ABI");
        exit(2);
    }
    /* ABI 1: 13 rights; 2 adds REFER; 3 TRUNCATE; 5 IOCTL_DEV. */
    int bits = abi >= 5 ? 16 : abi >= 3 ? 15 : abi >= 2 ? 14 : 13;
    struct ll_ruleset_attr attr = {.handled_access_fs = (1ULL << bits) - 1};
    int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    int root = open("/", O_PATH | O_CLOEXEC);
    struct ll_path_beneath_attr pb = {.allowed_access = attr.handled_access_fs, .parent_fd = root};
    if (rs < 0 || root < 0 ||
        syscall(SYS_landlock_add_rule, rs, 1 /* PATH_BENEATH */, &pb, 0) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_landlock_restrict_self, rs, 0) < 0) {
        perror("landlock");
        exit(2);
    }
    close(root);
    close(rs);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s getppid|stat|open ITERATIONS [--allow-all-filter] [--filter FILE] [--landlock] [--path P]\n", argv[0]);
        return 2;
    }
    const char *what = argv[1];
    long n = atol(argv[2]);
    int use_stat = strcmp(what, "stat") == 0;
    int use_open = strcmp(what, "open") == 0;
    const char *path = "/usr/lib/node_modules/npm/node_modules/@npmcli/arborist/lib/arborist/index.js";
    if (!use_stat && !use_open && strcmp(what, "getppid") != 0) {
        fprintf(stderr, "unknown syscall %s\n", what);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--allow-all-filter") == 0)
            allow_all_filter();
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter_from(argv[++i]);
        else if (strcmp(argv[i], "--landlock") == 0)
            landlock_everything_beneath_root();
        else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
            path = argv[++i];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }

    struct stat st;
    double per_call[BLOCKS];
    for (int b = 0; b < BLOCKS; b++) {
        double t0 = now_ns();
        if (use_open) {
            for (long i = 0; i < n; i++) {
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    perror(path);
                    return 1;
                }
                close(fd);
            }
        } else if (use_stat) {
            for (long i = 0; i < n; i++)
                if (stat("/usr", &st) < 0) {
                    perror("stat /usr");
                    return 1;
                }
        } else {
            for (long i = 0; i < n; i++)
                syscall(SYS_getppid);
        }
        per_call[b] = (now_ns() - t0) / n;
    }
    qsort(per_call, BLOCKS, sizeof per_call[0], cmp_double);
    printf("{\"syscall\": \"%s\", \"iterations\": %ld, \"ns_per_call\": %.2f, \"min_ns\": %.2f, \"max_ns\": %.2f}\n",
           what, n, per_call[BLOCKS / 2], per_call[0], per_call[BLOCKS - 1]);
    return 0;
}
