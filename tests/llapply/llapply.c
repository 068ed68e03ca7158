/* Applies a Landlock ruleset given on the command line, then executes a command: the loader
 * the tests use to run a probe under `mcpcell export landlock`'s rules.
 *
 *   llapply FS_HANDLED NET_HANDLED SCOPED [f MASK PATH | n MASK PORT]... -- COMMAND [ARGS]
 *
 * Masks are the kernel's access bits (decimal). A path that does not exist is skipped, as a
 * best-effort loader does. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's structures, declared here: older distributions' headers lack the network
 * rules and scopes. */
struct ruleset_attr {
    uint64_t fs, net, scoped;
};
struct path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));
struct net_port {
    uint64_t allowed_access;
    uint64_t port;
};
#define RULE_PATH_BENEATH 1
#define RULE_NET_PORT 2

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: llapply FS NET SCOPED [f MASK PATH | n MASK PORT]... -- CMD\n");
        return 2;
    }
    struct ruleset_attr attr = {strtoull(argv[1], 0, 10), strtoull(argv[2], 0, 10),
                                strtoull(argv[3], 0, 10)};
    int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0) {
        perror("llapply: landlock_create_ruleset");
        return 2;
    }
    int i = 4;
    for (; i < argc && strcmp(argv[i], "--"); i += 3) {
        if (i + 2 >= argc) return 2;
        uint64_t mask = strtoull(argv[i + 1], 0, 10);
        if (!strcmp(argv[i], "f")) {
            int fd = open(argv[i + 2], O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            struct path_beneath pb = {.allowed_access = mask, .parent_fd = fd};
            if (syscall(SYS_landlock_add_rule, rs, RULE_PATH_BENEATH, &pb, 0)) {
                fprintf(stderr, "llapply: rule for %s: ", argv[i + 2]);
                perror("");
                return 2;
            }
            close(fd);
        } else {
            struct net_port np = {.allowed_access = mask,
                                                .port = strtoull(argv[i + 2], 0, 10)};
            if (syscall(SYS_landlock_add_rule, rs, RULE_NET_PORT, &np, 0)) {
                perror("llapply: net rule");
                return 2;
            }
        }
    }
    if (i >= argc - 1) return 2;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_landlock_restrict_self, rs, 0)) {
        perror("llapply: restrict");
        return 2;
    }
    execv(argv[i + 1], argv + i + 1);
    perror("llapply: exec");
    return 127;
}
