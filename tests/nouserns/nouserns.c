/*
 * nouserns: run a command the way a container's default seccomp profile runs it (Docker's and
 * Podman's, for a process without CAP_SYS_ADMIN): creating namespaces is refused.
 *
 *   nouserns COMMAND [ARGS...]
 *   nouserns --apparmor COMMAND [ARGS...]
 *   nouserns --nothreads COMMAND [ARGS...]
 *   nouserns --noshared COMMAND [ARGS...]
 *
 * It installs a seccomp filter on itself and execs COMMAND; the filter holds for COMMAND and
 * everything it starts, and no process under it can remove it. Under the filter:
 *   - unshare(2) and setns(2) fail with EPERM, whatever the flags;
 *   - clone(2) with any CLONE_NEW* flag fails with EPERM (plain fork and threads work);
 *   - clone3(2) fails with ENOSYS, so that libc falls back to clone, whose flags can be seen;
 *   - pidfd_getfd(2) fails with EPERM, as Docker's profile has it without CAP_SYS_PTRACE.
 * That is what those profiles do; user namespaces are the first thing it takes away, so
 * root and an ordinary user are in the same position as in a container with no added
 * capabilities.
 *
 * With --apparmor it plays Ubuntu's kernel.apparmor_restrict_unprivileged_userns instead:
 * namespaces can be created, but what a user namespace's capabilities would allow there is
 * refused, and mounting is the first such thing (mount, umount2, pivot_root, mount_setattr and
 * the new mount API fail with EPERM).
 *
 * With --nothreads namespaces are allowed and no thread can be created, as on a system out of
 * threads (pids.max, RLIMIT_NPROC): clone(2) with CLONE_THREAD fails with EAGAIN and clone3(2)
 * with ENOSYS (libc then tries clone); processes are still forked. The harness also stays as
 * COMMAND's parent and a child subreaper, so that a process COMMAND leaves behind when it exits
 * comes to the harness: after COMMAND has exited it says so on stderr and exits with 124 if any
 * process it did not start remains its child.
 *
 * With --noshared namespaces are allowed and no process can be created that shares its
 * parent's descriptor table without being its thread: clone(2) with CLONE_FILES and without
 * CLONE_THREAD fails with EAGAIN, as a system out of processes answers (clone3(2): ENOSYS).
 * That is the helper an ordinary user's sandbox makes its network namespace with; forks,
 * threads and vfork-style spawns still work. Before it runs COMMAND it checks that such a
 * clone is refused.
 *
 * Exit status: COMMAND's, 124 (--nothreads) when COMMAND left a process behind, or 125 when
 * the filter cannot be installed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

#define NS_FLAGS                                                                                \
    (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |  \
     CLONE_NEWCGROUP | CLONE_NEWTIME)

#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsmount 432
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif

/* A filter under which clone3 answers ENOSYS (libc then uses clone, whose flags can be seen)
 * and clone fails with EAGAIN, as on a system out of processes, when its flags masked with
 * MASK are VALUE. */
#define CLONE_REFUSED(MASK, VALUE)                                                              \
    {                                                                                           \
        LOAD(offsetof(struct seccomp_data, arch)), JEQ(AUDIT_ARCH_X86_64, 1, 0),                \
            RET(SECCOMP_RET_ALLOW), LOAD(offsetof(struct seccomp_data, nr)),                    \
            JEQ(__NR_clone3, 0, 1), RET(ERRNO(ENOSYS)), JEQ(__NR_clone, 0, 4),                  \
            LOAD(offsetof(struct seccomp_data, args[0])),                                       \
            BPF_STMT(BPF_ALU | BPF_AND | BPF_K, (MASK)), JEQ((VALUE), 0, 1), RET(ERRNO(EAGAIN)), \
            RET(SECCOMP_RET_ALLOW),                                                             \
    }

/* Executes COMMAND (argv[1]...); returns the exit status to report when that fails. */
static int exec_command(char **argv) {
    execvp(argv[1], argv + 1);
    fprintf(stderr, "nouserns: %s: %s\n", argv[1], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}

/* Kills this process's children, found in /proc by their parent's pid. */
static void kill_children(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        /* pid (comm) state ppid ...: comm may hold anything, so the last ')' ends it. */
        char *close = strrchr(buf, ')');
        int ppid;
        if (close && sscanf(close + 1, " %*c %d", &ppid) == 1 && ppid == getpid())
            kill(atoi(e->d_name), SIGKILL);
    }
    closedir(d);
}

/* --nothreads: runs COMMAND as a child and reports what it left behind. */
static int run_and_watch(char **argv) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "nouserns: subreaper: %s\n", strerror(errno));
        return 125;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "nouserns: fork: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0)
        _exit(exec_command(argv));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "nouserns: waitpid: %s\n", strerror(errno));
            return 125;
        }
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    /* Anything still here (running, or exited and not reaped by anyone) was COMMAND's. */
    int left = 0;
    for (;;) {
        int st;
        pid_t other = waitpid(-1, &st, WNOHANG);
        if (other > 0) {
            left = 1;
            continue;
        }
        if (other == 0) {
            /* Running: stopped here for good, so that the next test does not meet it. */
            left = 1;
            kill_children();
            while (waitpid(-1, &st, 0) > 0 || errno == EINTR) {
            }
        } else if (errno == EINTR) {
            continue;
        }
        break;
    }
    if (left) {
        fprintf(stderr, "nouserns: %s exited (%d) and left a process behind\n", argv[1], code);
        return 124;
    }
    return code;
}

int main(int argc, char **argv) {
    int apparmor = argc > 1 && !strcmp(argv[1], "--apparmor");
    int nothreads = argc > 1 && !strcmp(argv[1], "--nothreads");
    int noshared = argc > 1 && !strcmp(argv[1], "--noshared");
    if (apparmor || nothreads || noshared) {
        argv++;
        argc--;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: nouserns [--apparmor | --nothreads | --noshared] COMMAND [ARGS...]\n");
        return 125;
    }
    struct sock_filter filter[] = {
        /* Another ABI (i386, x32) is left alone: the commands under test refuse it anyway. */
        LOAD(offsetof(struct seccomp_data, arch)),
        JEQ(AUDIT_ARCH_X86_64, 1, 0),
        RET(SECCOMP_RET_ALLOW),
        LOAD(offsetof(struct seccomp_data, nr)),
        JEQ(__NR_unshare, 0, 1),
        RET(ERRNO(EPERM)),
        JEQ(__NR_setns, 0, 1),
        RET(ERRNO(EPERM)),
        JEQ(__NR_clone3, 0, 1),
        RET(ERRNO(ENOSYS)),
        JEQ(__NR_pidfd_getfd, 0, 1),
        RET(ERRNO(EPERM)),
        JEQ(__NR_clone, 0, 4),
        /* clone's flags are its first argument (the low 32 bits hold every CLONE_NEW*). */
        LOAD(offsetof(struct seccomp_data, args[0])),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, NS_FLAGS),
        JEQ(0, 1, 0),
        RET(ERRNO(EPERM)),
        RET(SECCOMP_RET_ALLOW),
    };
    struct sock_filter mounts[] = {
        LOAD(offsetof(struct seccomp_data, arch)),
        JEQ(AUDIT_ARCH_X86_64, 1, 0),
        RET(SECCOMP_RET_ALLOW),
        LOAD(offsetof(struct seccomp_data, nr)),
        JEQ(__NR_mount, 8, 0),
        JEQ(__NR_umount2, 7, 0),
        JEQ(__NR_pivot_root, 6, 0),
        JEQ(__NR_mount_setattr, 5, 0),
        JEQ(__NR_open_tree, 4, 0),
        JEQ(__NR_move_mount, 3, 0),
        JEQ(__NR_fsopen, 2, 0),
        JEQ(__NR_fsmount, 1, 0),
        RET(SECCOMP_RET_ALLOW),
        RET(ERRNO(EPERM)),
    };
    /* --nothreads: threads fail; --noshared: processes sharing the descriptor table fail. */
    struct sock_filter threads[] = CLONE_REFUSED(CLONE_THREAD, CLONE_THREAD);
    struct sock_filter shared[] = CLONE_REFUSED(CLONE_FILES | CLONE_THREAD, CLONE_FILES);
    struct sock_fprog prog = {
        .len = sizeof(filter) / sizeof(filter[0]),
        .filter = filter,
    };
    if (apparmor) {
        prog.len = sizeof(mounts) / sizeof(mounts[0]);
        prog.filter = mounts;
    }
    if (nothreads) {
        prog.len = sizeof(threads) / sizeof(threads[0]);
        prog.filter = threads;
    }
    if (noshared) {
        prog.len = sizeof(shared) / sizeof(shared[0]);
        prog.filter = shared;
    }
    /* no_new_privs lets an ordinary user install a filter; root keeps setuid semantics
     * otherwise, as a container's processes do not (runtimes set it too). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "nouserns: no_new_privs: %s\n", strerror(errno));
        return 125;
    }
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        fprintf(stderr, "nouserns: seccomp: %s\n", strerror(errno));
        return 125;
    }
    if (noshared) {
        /* The filter's own check: a process sharing this one's descriptor table. */
        long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
            _exit(0);
        if (pid > 0 || errno != EAGAIN) {
            fprintf(stderr, "nouserns: --noshared: a clone with CLONE_FILES was not refused\n");
            if (pid > 0)
                waitpid((pid_t)pid, NULL, 0);
            return 125;
        }
    }
    if (nothreads)
        return run_and_watch(argv);
    return exec_command(argv);
}
