/* What one read-only bind of a file costs, made three ways, in a private mount namespace
 * (as root): the detached copy mcpcell makes (open_tree with OPEN_TREE_CLONE, the two fstat
 * of its identity check, mount_setattr, move_mount, close); mount(MS_BIND) and a remount for
 * the flags, as bubblewrap binds; mount(MS_BIND), a recursive mount_setattr by path and a
 * stat to check the file. Each round is a child that unshares its mount namespace, mounts a
 * tmpfs on /mnt, creates the mount points and times the binds of every FILE; the median per
 * bind over ROUNDS rounds is printed for each way.
 *
 *   bind_cost ROUNDS FILE...
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

#define RO (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

static int bind_one(int way, const char *src, const char *dst) {
    struct mount_attr attr = {.attr_set = RO};
    struct stat a, b;
    switch (way) {
    case 0: {
        int fd = syscall(SYS_open_tree, AT_FDCWD, src,
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
        if (fd < 0 || fstat(fd, &a) || fstat(fd, &b)) return -1;
        if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr))
            return -1;
        if (syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH)) return -1;
        return close(fd);
    }
    case 1:
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) return -1;
        return mount("none", dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                     NULL);
    default:
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) return -1;
        if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof attr))
            return -1;
        return stat(dst, &a);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bind_cost ROUNDS FILE...\n");
        return 2;
    }
    int rounds = atoi(argv[1]), nfiles = argc - 2;
    if (rounds < 4) rounds = 4;
    static const char *ways[] = {"open_tree copy (mcpcell)", "MS_BIND + MS_REMOUNT",
                                 "MS_BIND + mount_setattr + stat"};
    double *t = calloc(rounds, sizeof *t);
    if (!t) { perror("calloc"); return 1; }
    for (int way = 0; way < 3; way++) {
        for (int r = 0; r < rounds; r++) {
            int p[2];
            if (pipe(p)) { perror("pipe"); return 1; }
            pid_t pid = fork();
            if (pid < 0) { perror("fork"); return 1; }
            if (pid == 0) {
                char dst[64];
                if (unshare(CLONE_NEWNS) || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
                    mount("tmpfs", "/mnt", "tmpfs", 0, "mode=0755"))
                    _exit(2);
                for (int i = 0; i < nfiles; i++) {
                    snprintf(dst, sizeof dst, "/mnt/f%d", i);
                    int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
                    if (fd < 0) _exit(3);
                    close(fd);
                }
                double t0 = now_us();
                for (int i = 0; i < nfiles; i++) {
                    snprintf(dst, sizeof dst, "/mnt/f%d", i);
                    if (bind_one(way, argv[2 + i], dst)) _exit(4);
                }
                double d = (now_us() - t0) / nfiles;
                if (write(p[1], &d, sizeof d) != sizeof d) _exit(5);
                _exit(0);
            }
            close(p[1]);
            if (read(p[0], &t[r], sizeof t[r]) != sizeof t[r]) {
                fprintf(stderr, "bind_cost: a round failed (%s); run as root, with files\n",
                        ways[way]);
                return 1;
            }
            close(p[0]);
            waitpid(pid, NULL, 0);
        }
        qsort(t, rounds, sizeof *t, cmp_double);
        printf("%-32s median %.2f us a bind (p25 %.2f, p75 %.2f), %d files, %d rounds\n",
               ways[way], t[rounds / 2], t[rounds / 4], t[3 * rounds / 4], nfiles, rounds);
    }
    free(t);
    return 0;
}
