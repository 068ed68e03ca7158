/*
 * A small static program the tests run inside the sandbox. Each subcommand tries one thing
 * and prints one line to stdout: "OK <detail>" or "ERR <errno-name> <message>". Tests judge
 * the effect from outside wherever there is something to see there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/inotify.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <termios.h>
#include <unistd.h>

static int result(int ok, const char *detail) {
    if (ok) {
        printf("OK %s\n", detail ? detail : "");
    } else {
        int e = errno;
        printf("ERR %s %s\n", strerrorname_np(e) ? strerrorname_np(e) : "?", strerror(e));
    }
    fflush(stdout);
    return ok ? 0 : 1;
}

static int cmd_read(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return result(0, NULL);
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) return result(0, NULL);
    buf[n] = 0;
    for (ssize_t i = 0; i < n; i++) if (buf[i] == '\n') buf[i] = ' ';
    return result(1, buf);
}

static int cmd_write(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return result(0, NULL);
    if (write(fd, data, strlen(data)) < 0) return result(0, NULL);
    close(fd);
    return result(1, path);
}

/* chattr +d (no dump) through a descriptor opened for reading. */
static int cmd_setflags(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return result(0, NULL);
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) return result(0, NULL);
    flags |= FS_NODUMP_FL;
    if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0) return result(0, NULL);
    return result(1, "flags set");
}

/* file_setattr(2) (Linux 6.17): the same flags by path. */
struct probe_file_attr {
    uint64_t xflags;
    uint32_t extsize, nextents, projid, cowextsize;
};
static int cmd_fileattr(const char *path) {
    struct probe_file_attr a;
    memset(&a, 0, sizeof a);
    if (syscall(468, AT_FDCWD, path, &a, sizeof a, 0) < 0) return result(0, NULL);
    a.xflags |= 0x80; /* FS_XFLAG_NODUMP */
    if (syscall(469, AT_FDCWD, path, &a, sizeof a, 0) < 0) return result(0, NULL);
    return result(1, "attributes set");
}

/* A read lease through a descriptor opened for reading, held for a second: a writer's
 * open waits for it. */
static int cmd_lease(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return result(0, NULL);
    if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0) return result(0, NULL);
    result(1, "leased");
    sleep(1);
    return 0;
}

static int cmd_ls(const char *path) {
    DIR *d = opendir(path);
    if (!d) return result(0, NULL);
    char out[8192] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (strlen(out) + strlen(e->d_name) + 2 < sizeof out) {
            strcat(out, e->d_name);
            strcat(out, " ");
        }
    }
    closedir(d);
    return result(1, out);
}

static int cmd_tcp(const char *host, int port, const char *msg) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return result(0, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) return result(0, NULL);
    if (write(s, msg, strlen(msg)) < 0) return result(0, NULL);
    close(s);
    return result(1, "sent");
}

static int cmd_udp(const char *host, int port, const char *msg) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) return result(0, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0) return result(0, NULL);
    return result(1, "sent");
}

static int cmd_bind(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return result(0, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) return result(0, NULL);
    if (listen(s, 1) < 0) return result(0, NULL);
    return result(1, "listening");
}

/* TCP Fast Open: data and connection in one sendto, without connect(2) */
static int cmd_tfo(const char *host, int port, const char *msg) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return result(0, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (sendto(s, msg, strlen(msg), MSG_FASTOPEN, (struct sockaddr *)&a, sizeof a) < 0) return result(0, NULL);
    close(s);
    return result(1, "sent");
}

/* An IPv6 socket connecting to HOST6 (an IPv4-mapped address reaches an IPv4 listener) */
static int cmd_tcp6(const char *host, int port, const char *msg) {
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    if (s < 0) return result(0, NULL);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (inet_pton(AF_INET6, host, &a.sin6_addr) != 1) return result(0, NULL);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) return result(0, NULL);
    if (write(s, msg, strlen(msg)) < 0) return result(0, NULL);
    close(s);
    return result(1, "sent");
}

/* TCP_FASTOPEN_CONNECT: connect(2) returns at once and the SYN leaves with the first write */
static int cmd_tfo_connect(const char *host, int port, const char *msg) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return result(0, NULL);
    int one = 1;
    if (setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) < 0) return result(0, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) return result(0, NULL);
    if (write(s, msg, strlen(msg)) < 0) return result(0, NULL);
    close(s);
    return result(1, "sent");
}

/* cmd_tcp from a thread that is not the process's leader */
static const char *thread_args[3];
static int thread_result;
static void *tcp_thread(void *unused) {
    (void)unused;
    thread_result = cmd_tcp(thread_args[0], atoi(thread_args[1]), thread_args[2]);
    return NULL;
}

static int cmd_tcp_thread(const char *host, const char *port, const char *msg) {
    thread_args[0] = host;
    thread_args[1] = port;
    thread_args[2] = msg;
    pthread_t t;
    if (pthread_create(&t, NULL, tcp_thread, NULL)) return result(0, NULL);
    pthread_join(t, NULL);
    return thread_result;
}

/* The time-of-check race: one thread keeps rewriting the address a connect(2) reads, between
 * an allowed one (127.0.0.1:ALLOWED_PORT) and HOST:PORT, while the main thread connects N
 * times and sends MSG on every connection it gets. */
static struct sockaddr_in race_addr;
static struct in_addr race_allowed_ip, race_target_ip;
static volatile int race_allowed_port, race_target_port, race_stop, race_started;

static void *race_flipper(void *unused) {
    (void)unused;
    race_started = 1;
    while (!race_stop) {
        race_addr.sin_addr = race_allowed_ip;
        race_addr.sin_port = (unsigned short)race_allowed_port;
        __sync_synchronize();
        for (volatile int i = 0; i < 50; i++);
        race_addr.sin_addr = race_target_ip;
        race_addr.sin_port = (unsigned short)race_target_port;
        __sync_synchronize();
        for (volatile int i = 0; i < 50; i++);
    }
    return NULL;
}

/* The same race on the family alone: the address stays HOST:PORT, its family flips between
 * AF_UNIX (which a supervisor lets the kernel judge) and AF_INET. */
static void *race_family_flipper(void *unused) {
    (void)unused;
    race_started = 1;
    while (!race_stop) {
        race_addr.sin_family = AF_UNIX;
        __sync_synchronize();
        for (volatile int i = 0; i < 50; i++);
        race_addr.sin_family = AF_INET;
        __sync_synchronize();
        for (volatile int i = 0; i < 50; i++);
    }
    return NULL;
}

static int cmd_tcp_race_family(const char *host, const char *port, const char *n, const char *msg) {
    race_addr.sin_family = AF_INET;
    inet_pton(AF_INET, host, &race_addr.sin_addr);
    race_addr.sin_port = htons(atoi(port));
    pthread_t t;
    if (pthread_create(&t, NULL, race_family_flipper, NULL)) return result(0, NULL);
    while (!race_started) sched_yield();
    int connected = 0, refused = 0;
    for (int i = 0; i < atoi(n); i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) return result(0, NULL);
        if (connect(s, (struct sockaddr *)&race_addr, sizeof race_addr) == 0) {
            connected++;
            if (write(s, msg, strlen(msg)) < 0) {}
        } else {
            refused++;
        }
        close(s);
    }
    race_stop = 1;
    pthread_join(t, NULL);
    char out[64];
    snprintf(out, sizeof out, "connected=%d refused=%d", connected, refused);
    return result(1, out);
}

static int cmd_tcp_race(const char *allowed_port, const char *host, const char *port, const char *n, const char *msg) {
    race_addr.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &race_allowed_ip);
    inet_pton(AF_INET, host, &race_target_ip);
    race_allowed_port = htons(atoi(allowed_port));
    race_target_port = htons(atoi(port));
    pthread_t t;
    if (pthread_create(&t, NULL, race_flipper, NULL)) return result(0, NULL);
    while (!race_started) sched_yield();
    int connected = 0, refused = 0;
    for (int i = 0; i < atoi(n); i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) return result(0, NULL);
        if (connect(s, (struct sockaddr *)&race_addr, sizeof race_addr) == 0) {
            connected++;
            if (write(s, msg, strlen(msg)) < 0) {}
        } else {
            refused++;
        }
        close(s);
    }
    race_stop = 1;
    pthread_join(t, NULL);
    char out[64];
    snprintf(out, sizeof out, "connected=%d refused=%d", connected, refused);
    return result(1, out);
}

/* listen(2) on a socket that was never bound: the kernel picks a port */
static int cmd_listen_unbound(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return result(0, NULL);
    if (listen(s, 1) < 0) return result(0, NULL);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    char d[32];
    snprintf(d, sizeof d, "%d", ntohs(a.sin_port));
    return result(1, d);
}

static int cmd_socket(const char *family, const char *type, const char *proto) {
    int s = socket(atoi(family), atoi(type), atoi(proto));
    return result(s >= 0, "created");
}

/* metadata: what Landlock does not govern */
static int cmd_chmod(const char *path, const char *mode) {
    return result(chmod(path, strtol(mode, NULL, 8)) == 0, "chmodded");
}
/* by a descriptor opened for reading only: what a read grant gives */
static int cmd_fchmod(const char *path, const char *mode) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return result(0, NULL);
    int ok = fchmod(fd, strtol(mode, NULL, 8)) == 0;
    int e = errno;
    close(fd);
    errno = e;
    return result(ok, "fchmodded");
}
/* as glibc changes the mode of a file it holds as O_PATH: through /proc/self/fd/N */
static int cmd_chmod_procfd(const char *path, const char *mode) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return result(0, NULL);
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    return result(chmod(p, strtol(mode, NULL, 8)) == 0, "chmodded");
}
/* chmod of LINK while another process flips it between A and B (the time-of-check race
 * on a path): prints how many of N calls succeeded. */
static int cmd_chmod_flip(const char *link, const char *a, const char *b, const char *n) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.flip", link);
    if (symlink(a, link) < 0) return result(0, NULL);
    pid_t child = fork();
    if (child < 0) return result(0, NULL);
    if (child == 0) {
        for (;;) {
            unlink(tmp);
            if (symlink(b, tmp) == 0) rename(tmp, link);
            unlink(tmp);
            if (symlink(a, tmp) == 0) rename(tmp, link);
        }
    }
    /* Let the flipper run first: on a busy machine the calls could otherwise all end
     * before it is scheduled. */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int ok = 0, count = atoi(n);
    for (int i = 0; i < count; i++)
        if (chmod(link, 0666) == 0) ok++;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    char d[64];
    snprintf(d, sizeof d, "%d", ok);
    return result(1, d);
}
static int cmd_utimes(const char *path) {
    struct timespec t[2] = {{1, 0}, {1, 0}};
    return result(utimensat(AT_FDCWD, path, t, 0) == 0, "set times");
}
static int cmd_setxattr(const char *path, const char *name, const char *value) {
    return result(setxattr(path, name, value, strlen(value), 0) == 0, "set");
}
static int cmd_getxattr(const char *path, const char *name) {
    char v[256];
    ssize_t n = getxattr(path, name, v, sizeof v - 1);
    if (n < 0) return result(0, NULL);
    v[n] = 0;
    return result(1, v);
}
static int cmd_stat(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return result(0, NULL);
    char d[64];
    snprintf(d, sizeof d, "size=%lld", (long long)st.st_size);
    return result(1, d);
}
static int cmd_readlink(const char *path) {
    char t[512];
    ssize_t n = readlink(path, t, sizeof t - 1);
    if (n < 0) return result(0, NULL);
    t[n] = 0;
    return result(1, t);
}
static int cmd_inotify(const char *path) {
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0) return result(0, NULL);
    return result(inotify_add_watch(fd, path, IN_ALL_EVENTS) >= 0, "watching");
}
/* map a file executable, as the dynamic loader does with a library; a file that does not
 * exist is written first */
static int cmd_mmap_exec(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT, 0755);
        if (fd < 0 || write(fd, "\xc3", 1) != 1) return result(0, NULL);
    }
    if (fd < 0) return result(0, NULL);
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    return result(p != MAP_FAILED, "mapped");
}
/* turn echo off on whichever standard descriptor is a terminal */
static int cmd_tty_echo_off(void) {
    for (int fd = 0; fd < 3; fd++) {
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
            t.c_lflag &= ~ECHO;
            return result(tcsetattr(fd, TCSANOW, &t) == 0, "echo off");
        }
    }
    errno = ENOTTY;
    return result(0, NULL);
}

/* connect to a Unix socket; a leading '@' means the abstract namespace */
static int cmd_unix(const char *path, const char *msg) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return result(0, NULL);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t len;
    if (path[0] == '@') {
        strncpy(a.sun_path + 1, path + 1, sizeof a.sun_path - 2);
        len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path + 1);
    } else {
        strncpy(a.sun_path, path, sizeof a.sun_path - 1);
        len = sizeof a;
    }
    if (connect(s, (struct sockaddr *)&a, len) < 0) return result(0, NULL);
    if (write(s, msg, strlen(msg)) < 0) return result(0, NULL);
    return result(1, "sent");
}

/* A datagram socketpair's end sent to a pathname socket: an address of its own without
 * socket(AF_UNIX). */
static int dgram_pair_sendto(int type, const char *path, const char *msg) {
    int sv[2];
    if (socketpair(AF_UNIX, type, 0, sv) < 0) return result(0, NULL);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (sendto(sv[0], msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0)
        return result(0, NULL);
    return result(1, "sent");
}

static int cmd_dgram_pair_sendto(const char *path, const char *msg) {
    return dgram_pair_sendto(SOCK_DGRAM, path, msg);
}

/* The same with SOCK_RAW, which the kernel takes for a datagram pair. */
static int cmd_raw_pair_sendto(const char *path, const char *msg) {
    return dgram_pair_sendto(SOCK_RAW, path, msg);
}

static int cmd_status(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return result(0, NULL);
    char line[256], out[2048] = "";
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) || !strncmp(line, "Seccomp:", 8)) {
            line[strcspn(line, "\n")] = 0;
            for (char *p = line; *p; p++) if (*p == '\t') *p = ' ';
            strcat(out, line);
            strcat(out, ";");
        }
    }
    fclose(f);
    return result(1, out);
}

static int cmd_int80(void) {
    long ret;
    /* getpid is 20 on i386 */
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory");
    if (ret < 0) {
        errno = -ret;
        return result(0, NULL);
    }
    char b[64];
    snprintf(b, sizeof b, "pid %ld", ret);
    return result(1, b);
}

static int cmd_x32(void) {
    long r = syscall(SYS_getpid | 0x40000000);
    if (r < 0) return result(0, NULL);
    return result(1, "x32 getpid worked");
}

static int cmd_memfd_exec(void) {
    int m = memfd_create("x", MFD_CLOEXEC);
    if (m < 0) return result(0, "memfd_create");
    int src = open("/proc/self/exe", O_RDONLY);
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0) write(m, buf, n);
    char *argv[] = {"probe", "exit", "0", NULL};
    char *envp[] = {NULL};
    syscall(SYS_execveat, m, "", argv, envp, AT_EMPTY_PATH);
    return result(0, NULL);
}

static volatile sig_atomic_t got;
static void on_sig(int s) { got = s; }

/* Prints every forwarded signal it receives, exits 0 on SIGTERM. */
static int cmd_signals(void) {
    int sigs[] = {SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM};
    sigset_t block, old;
    sigemptyset(&block);
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        signal(sigs[i], on_sig);
        sigaddset(&block, sigs[i]);
    }
    /* Signals stay blocked except inside sigsuspend, so none slips in between the check
     * and the wait. */
    sigprocmask(SIG_BLOCK, &block, &old);
    printf("READY\n");
    fflush(stdout);
    for (;;) {
        while (!got) sigsuspend(&old);
        printf("SIG %d\n", (int)got);
        fflush(stdout);
        if (got == SIGTERM) return 0;
        got = 0;
    }
}

/* Forks a tree of sleepers, prints READY, then sleeps. */
static int cmd_tree(int n) {
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            if (fork() == 0) setsid(); /* a daemonized grandchild too */
            for (;;) pause();
        }
    }
    printf("READY\n");
    fflush(stdout);
    for (;;) pause();
    return 0;
}

static int cmd_tiocsti(const char *path) {
    int fd = path ? open(path, O_RDWR) : 0;
    if (fd < 0) return result(0, NULL);
    char c = 'x';
    return result(ioctl(fd, TIOCSTI, &c) == 0, "injected");
}

static int cmd_cat(void) {
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        char *p = buf;
        while (n > 0) {
            ssize_t w = write(1, p, n);
            if (w < 0) return 1;
            p += w;
            n -= w;
        }
    }
    return 0;
}

static int cmd_pids(void) { return cmd_ls("/proc"); }

/* Runs argv under a seccomp filter that takes a kernel feature away, to test how mcpcell
 * behaves on a system without it: "landlock" makes Landlock look absent (ENOSYS);
 * "userns" refuses every namespace (unshare, clone with CLONE_NEW* flags, clone3). */
static int cmd_without(const char *what, char **argv) {
    struct sock_filter landlock[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_create_ruleset, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_filter userns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x7E020000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog;
    if (!strcmp(what, "landlock")) {
        prog.len = sizeof landlock / sizeof *landlock;
        prog.filter = landlock;
    } else {
        prog.len = sizeof userns / sizeof *userns;
        prog.filter = userns;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
        perror("probe: seccomp");
        return 2;
    }
    execv(argv[0], argv);
    perror("probe: exec");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: probe COMMAND [ARGS]\n");
        return 2;
    }
    const char *c = argv[1];
    const char *a1 = argc > 2 ? argv[2] : "";
    const char *a2 = argc > 3 ? argv[3] : "";
    const char *a3 = argc > 4 ? argv[4] : "";
    if (!strcmp(c, "named") && argc > 3) {
        /* Takes the process name (comm) a1, which may hold any byte but NUL, then runs the
         * rest of the command line. */
        if (prctl(PR_SET_NAME, (unsigned long)a1, 0, 0, 0)) return result(0, NULL);
        return main(argc - 2, argv + 2);
    }
    if (!strcmp(c, "undumpable") && argc > 2) {
        /* Not dumpable: no one of the same user may read this process's memory. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) return result(0, NULL);
        return main(argc - 1, argv + 1);
    }
    if (!strcmp(c, "without") && argc > 3) return cmd_without(a1, argv + 3);
    if (!strcmp(c, "read")) return cmd_read(a1);
    if (!strcmp(c, "write")) return cmd_write(a1, a2);
    if (!strcmp(c, "ls")) return cmd_ls(a1);
    if (!strcmp(c, "setflags")) return cmd_setflags(a1);
    if (!strcmp(c, "lease")) return cmd_lease(a1);
    if (!strcmp(c, "fileattr")) return cmd_fileattr(a1);
    if (!strcmp(c, "mkdir")) return result(mkdir(a1, 0755) == 0, a1);
    if (!strcmp(c, "unlink")) return result(unlink(a1) == 0, a1);
    if (!strcmp(c, "rmdir")) return result(rmdir(a1) == 0, a1);
    if (!strcmp(c, "rename")) return result(rename(a1, a2) == 0, a2);
    if (!strcmp(c, "link")) return result(link(a1, a2) == 0, a2);
    if (!strcmp(c, "symlink")) return result(symlink(a1, a2) == 0, a2);
    if (!strcmp(c, "truncate")) return result(truncate(a1, 0) == 0, a1);
    if (!strcmp(c, "sigqueue")) {
        /* Queue up to N real-time signals to itself (blocked, so they stay queued); prints
           how many were queued before the kernel refused one. */
        long want = atol(a1), n = 0;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN);
        sigprocmask(SIG_BLOCK, &set, NULL);
        union sigval v = {0};
        while (n < want && sigqueue(getpid(), SIGRTMIN, v) == 0) n++;
        printf("QUEUED %ld\n", n);
        return 0;
    }
    if (!strcmp(c, "exec")) {
        execv(a1, argv + 2);
        return result(0, NULL);
    }
    if (!strcmp(c, "tcp")) return cmd_tcp(a1, atoi(a2), a3);
    if (!strcmp(c, "udp")) return cmd_udp(a1, atoi(a2), a3);
    if (!strcmp(c, "bind")) return cmd_bind(atoi(a1));
    if (!strcmp(c, "tfo")) return cmd_tfo(a1, atoi(a2), a3);
    if (!strcmp(c, "tcp6")) return cmd_tcp6(a1, atoi(a2), a3);
    if (!strcmp(c, "tcp-thread")) return cmd_tcp_thread(a1, a2, a3);
    if (!strcmp(c, "tfo-connect")) return cmd_tfo_connect(a1, atoi(a2), a3);
    if (!strcmp(c, "tcp-race-family") && argc > 5) return cmd_tcp_race_family(a1, a2, a3, argv[5]);
    if (!strcmp(c, "tcp-race") && argc > 6) return cmd_tcp_race(a1, a2, a3, argv[5], argv[6]);
    if (!strcmp(c, "listen-unbound")) return cmd_listen_unbound();
    if (!strcmp(c, "socket")) return cmd_socket(a1, a2, a3);
    if (!strcmp(c, "chmod")) return cmd_chmod(a1, a2);
    if (!strcmp(c, "fchmod")) return cmd_fchmod(a1, a2);
    if (!strcmp(c, "chmod-procfd")) return cmd_chmod_procfd(a1, a2);
    if (!strcmp(c, "chmod-flip") && argc > 5) return cmd_chmod_flip(a1, a2, a3, argv[5]);
    if (!strcmp(c, "utimes")) return cmd_utimes(a1);
    if (!strcmp(c, "setxattr")) return cmd_setxattr(a1, a2, a3);
    if (!strcmp(c, "getxattr")) return cmd_getxattr(a1, a2);
    if (!strcmp(c, "stat")) return cmd_stat(a1);
    if (!strcmp(c, "readlink")) return cmd_readlink(a1);
    if (!strcmp(c, "inotify")) return cmd_inotify(a1);
    if (!strcmp(c, "mmap-exec")) return cmd_mmap_exec(a1);
    if (!strcmp(c, "tty-echo-off")) return cmd_tty_echo_off();
    if (!strcmp(c, "unix")) return cmd_unix(a1, a2);
    if (!strcmp(c, "unix-self")) {
        /* A server and a client of our own on a pathname socket. */
        int l = socket(AF_UNIX, SOCK_STREAM, 0);
        if (l < 0) return result(0, NULL);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, a1, sizeof a.sun_path - 1);
        unlink(a1);
        if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) return result(0, NULL);
        int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c2, (struct sockaddr *)&a, sizeof a) < 0) return result(0, NULL);
        int s2 = accept(l, NULL, NULL);
        char b[3] = {0};
        if (write(c2, "ok", 2) != 2 || read(s2, b, 2) != 2) return result(0, NULL);
        return result(1, b);
    }
    if (!strcmp(c, "dgram-pair-sendto")) return cmd_dgram_pair_sendto(a1, a2);
    if (!strcmp(c, "raw-pair-sendto")) return cmd_raw_pair_sendto(a1, a2);
    if (!strcmp(c, "socketpair")) {
        int sv[2];
        return result(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "pair");
    }
    if (!strcmp(c, "kill")) return result(kill(atoi(a1), atoi(a2)) == 0, "sent");
    if (!strcmp(c, "ptrace")) return result(ptrace(PTRACE_ATTACH, atoi(a1), 0, 0) == 0, "attached");
    /* Another process's limits and scheduling, set to what they are (harmless when allowed):
     * prlimit PID, renice PID, affinity PID; 0 names the probe itself. */
    if (!strcmp(c, "prlimit")) {
        struct rlimit r;
        if (getrlimit(RLIMIT_CORE, &r) != 0) return result(0, "getrlimit");
        return result(prlimit(atoi(a1), RLIMIT_CORE, &r, NULL) == 0, "set");
    }
    if (!strcmp(c, "renice")) {
        errno = 0;
        int n = getpriority(PRIO_PROCESS, 0);
        if (errno) return result(0, "getpriority");
        return result(setpriority(PRIO_PROCESS, atoi(a1), n) == 0, "set");
    }
    if (!strcmp(c, "affinity")) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) != 0) return result(0, "getaffinity");
        return result(sched_setaffinity(atoi(a1), sizeof set, &set) == 0, "set");
    }
    if (!strcmp(c, "status")) return cmd_status();
    if (!strcmp(c, "env")) {
        extern char **environ;
        for (char **e = environ; *e; e++) printf("%s\n", *e);
        return 0;
    }
    if (!strcmp(c, "pids")) return cmd_pids();
    if (!strcmp(c, "int80")) return cmd_int80();
    if (!strcmp(c, "x32")) return cmd_x32();
    if (!strcmp(c, "memfd-exec")) return cmd_memfd_exec();
    if (!strcmp(c, "unshare-user")) return result(unshare(CLONE_NEWUSER) == 0, "unshared");
    if (!strcmp(c, "unshare-net")) return result(unshare(CLONE_NEWNET) == 0, "unshared");
    if (!strcmp(c, "clone-newuser")) {
        long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) _exit(0);
        if (r > 0) waitpid(r, NULL, 0);
        return result(r > 0, "cloned");
    }
    if (!strcmp(c, "clone3")) {
        long r = syscall(SYS_clone3, NULL, 0);
        return result(r >= 0, "clone3");
    }
    if (!strcmp(c, "mount")) return result(mount("none", "/tmp", "tmpfs", 0, NULL) == 0, "mounted");
    if (!strcmp(c, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        return result(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr) >= 0, "bpf");
    }
    if (!strcmp(c, "perf")) {
        struct perf_event_attr pe;
        memset(&pe, 0, sizeof pe);
        pe.type = PERF_TYPE_SOFTWARE;
        pe.size = sizeof pe;
        pe.config = PERF_COUNT_SW_CPU_CLOCK;
        return result(syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0) >= 0, "perf");
    }
    if (!strcmp(c, "userfaultfd")) return result(syscall(SYS_userfaultfd, 0) >= 0, "uffd");
    if (!strcmp(c, "io_uring")) {
        char params[120];
        memset(params, 0, sizeof params);
        return result(syscall(SYS_io_uring_setup, 4, params) >= 0, "io_uring");
    }
    if (!strcmp(c, "keyctl")) return result(syscall(SYS_add_key, "user", "k", "v", 1, -2) >= 0, "key");
    if (!strcmp(c, "personality")) return result(personality(READ_IMPLIES_EXEC) != -1 && (personality(0xffffffff) & READ_IMPLIES_EXEC), "changed");
    if (!strcmp(c, "tiocsti")) return cmd_tiocsti(argc > 2 ? a1 : NULL);
    if (!strcmp(c, "setns")) {
        int fd = open(a1, O_RDONLY);
        if (fd < 0) return result(0, NULL);
        return result(setns(fd, 0) == 0, "joined");
    }
    if (!strcmp(c, "cat")) return cmd_cat();
    if (!strcmp(c, "signals")) return cmd_signals();
    if (!strcmp(c, "ignore-term")) {
        signal(SIGTERM, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        printf("READY\n");
        fflush(stdout);
        for (;;) pause();
    }
    if (!strcmp(c, "sleep")) {
        printf("READY\n");
        fflush(stdout);
        sleep(atoi(a1));
        return 0;
    }
    if (!strcmp(c, "tree")) return cmd_tree(atoi(a1));
    if (!strcmp(c, "orphans")) {
        /* Leaves N daemonized children behind and exits 7. */
        for (int i = 0; i < atoi(a1); i++)
            if (fork() == 0) {
                setsid();
                for (;;) pause();
            }
        return 7;
    }
    if (!strcmp(c, "forkloop")) {
        /* Forks without pause: each child forks a grandchild and both exit soon. */
        printf("READY\n");
        fflush(stdout);
        for (;;) {
            pid_t p = fork();
            if (p == 0) {
                if (fork() == 0) {
                    usleep(20000);
                    _exit(0);
                }
                usleep(5000);
                _exit(0);
            }
            if (p > 0) waitpid(p, NULL, 0);
        }
    }
    if (!strcmp(c, "flood")) {
        /* Writes to stdout for as long as it can; a stalled reader stalls it. */
        static char b[1 << 16];
        memset(b, 'x', sizeof b);
        for (;;)
            if (write(1, b, sizeof b) < 0) return 1;
    }
    if (!strcmp(c, "exit")) return atoi(a1);
    if (!strcmp(c, "raise")) {
        signal(atoi(a1), SIG_DFL);
        raise(atoi(a1));
        return 99;
    }
    if (!strcmp(c, "nproc")) {
        /* fork until it fails; report how many succeeded */
        int n = 0;
        for (; n < 100000; n++) {
            pid_t p = fork();
            if (p < 0) break;
            if (p == 0) { pause(); _exit(0); }
        }
        char b[64];
        snprintf(b, sizeof b, "%d", n);
        printf("FORKED %d\n", n);
        fflush(stdout);
        return 0;
    }
    if (!strcmp(c, "alloc")) {
        /* Allocate and touch MIB mebibytes, one at a time; print how far it got. */
        long mib = atol(a1), n = 0;
        for (; n < mib; n++) {
            char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) break;
            for (long i = 0; i < (1 << 20); i += 4096) m[i] = 1;
        }
        printf("ALLOCATED %ld\n", n);
        fflush(stdout);
        return n == mib ? 0 : 3;
    }
    if (!strcmp(c, "fill")) {
        /* Write COUNT files of KIB KiB into $FILL_DIR, then stay SECONDS: "FILLED n" once
           written, "SURVIVED" if nothing stopped it meanwhile. */
        const char *dir = getenv("FILL_DIR");
        long count = atol(a1), kib = atol(a2), n = 0;
        if (!dir) return result(0, "FILL_DIR");
        static char block[1024];
        memset(block, 'x', sizeof block);
        for (; n < count; n++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/f%ld", dir, n);
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0) break;
            for (long k = 0; k < kib; k++)
                if (write(fd, block, sizeof block) != sizeof block) break;
            close(fd);
        }
        printf("FILLED %ld\n", n);
        fflush(stdout);
        sleep(atoi(a3));
        printf("SURVIVED\n");
        return 0;
    }
    if (!strcmp(c, "slow")) {
        /* Open N connections to 127.0.0.1:PORT that start a request and never finish it: one
           more byte every second for SECONDS seconds. Prints, each second, how many the peer
           has closed ("AFTER t closed"). */
        int port = atoi(a1), want = atoi(a2), secs = atoi(a3), n = 0;
        int fds[100], gone[100] = {0};
        if (want > 100) want = 100;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        for (; n < want; n++) {
            fds[n] = socket(AF_INET, SOCK_STREAM, 0);
            if (fds[n] < 0 || connect(fds[n], (struct sockaddr *)&a, sizeof a) < 0) break;
            if (send(fds[n], "CONNECT a", 9, MSG_NOSIGNAL) != 9) gone[n] = 1;
        }
        for (int t = 1; t <= secs; t++) {
            sleep(1);
            int closed = 0;
            for (int i = 0; i < n; i++) {
                if (!gone[i]) {
                    struct pollfd pf = {.fd = fds[i], .events = POLLIN};
                    char b;
                    if ((poll(&pf, 1, 0) == 1 && recv(fds[i], &b, 1, MSG_DONTWAIT) <= 0) ||
                        send(fds[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                        gone[i] = 1;
                }
                closed += gone[i];
            }
            printf("AFTER %d %d\n", t, closed);
            fflush(stdout);
        }
        return 0;
    }
    if (!strcmp(c, "conns")) {
        /* Open N TCP connections to 127.0.0.1:PORT that never send anything, from processes
           of 100 connections each (so that a low descriptor limit does not cap the total).
           Each prints how many connected; once all have, and HOLD1 seconds later, how many
           the peer has closed; and again HOLD2 seconds after that. */
        int port = atoi(a1), want = atoi(a2), hold1 = atoi(a3), hold2 = argc > 5 ? atoi(argv[5]) : 0;
        int ready[2], go[2], kids = 0;
        if (pipe(ready) < 0 || pipe(go) < 0) return result(0, "pipe");
        for (int base = 0; base < want; base += 100, kids++) {
            int mine = want - base < 100 ? want - base : 100;
            pid_t p = fork();
            if (p < 0) return result(0, "fork");
            if (p > 0) continue;
            close(ready[0]);
            close(go[1]);
            int fds[100], n = 0;
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            /* A peer that never accepts must not hang the probe: connect() gives up after the
               send timeout, and a connection that timed out (a full queue drops the SYN) is
               tried again on a new socket until 20 seconds have passed. */
            time_t until = time(NULL) + 20;
            while (n < mine) {
                fds[n] = socket(AF_INET, SOCK_STREAM, 0);
                struct timeval tv = {.tv_sec = 2};
                if (fds[n] < 0) break;
                setsockopt(fds[n], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
                if (connect(fds[n], (struct sockaddr *)&a, sizeof a) == 0) {
                    n++;
                    continue;
                }
                int e = errno;
                close(fds[n]);
                if ((e != EINPROGRESS && e != EAGAIN && e != ETIMEDOUT) || time(NULL) >= until) break;
            }
            printf("CONNECTED %d\n", n);
            fflush(stdout);
            /* Wait until every process has connected: the holds start together. */
            char b;
            if (write(ready[1], "r", 1) != 1) _exit(2);
            while (read(go[0], &b, 1) > 0) {}
            for (int round = 0; round < 2; round++) {
                sleep(round == 0 ? hold1 : hold2);
                int closed = 0;
                for (int i = 0; i < n; i++) {
                    struct pollfd pf = {.fd = fds[i], .events = POLLIN};
                    if (poll(&pf, 1, 0) == 1 && recv(fds[i], &b, 1, MSG_DONTWAIT) <= 0) closed++;
                }
                printf("CLOSED%d %d\n", round + 1, closed);
                fflush(stdout);
            }
            _exit(0);
        }
        close(ready[1]);
        close(go[0]);
        char b;
        for (int i = 0; i < kids; i++)
            if (read(ready[0], &b, 1) != 1) break;
        printf("ALL CONNECTED\n");
        fflush(stdout);
        close(go[1]);
        while (kids-- > 0) wait(NULL);
        printf("DONE\n");
        fflush(stdout);
        return 0;
    }
    if (!strcmp(c, "cwd")) {
        char b[4096];
        return result(getcwd(b, sizeof b) != NULL, b);
    }
    if (!strcmp(c, "stdin-eof")) {
        char b[256];
        while (read(0, b, sizeof b) > 0) {}
        printf("EOF\n");
        return 0;
    }
    fprintf(stderr, "probe: unknown command %s\n", c);
    return 2;
}
