/* A reference for the proxy's throughput: the least a user-space TCP relay can do, with
 * nothing of a sandbox or a proxy around it.
 *
 *   splice_relay TARGET_PORT
 *
 * Listens on 127.0.0.1 on a free port and prints that port on stdout; takes one connection,
 * dials 127.0.0.1:TARGET_PORT and moves bytes both ways until both sides have ended, then
 * exits. It moves them as mcpcell's proxy does (src/proxy/relay.rs): splice(2) through a
 * pipe grown to 1 MiB, one thread per direction, half-closes passed on. Its rate over a
 * direct connection's is what two TCP connections and a relay cost on the machine, whatever
 * the relay: the ceiling for mcpcell's figure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (1 << 20)

struct dir {
    int from, to;
};

static void *pump(void *arg) {
    struct dir *d = arg;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("splice_relay: pipe2");
        exit(1);
    }
    fcntl(p[1], F_SETPIPE_SZ, CHUNK);
    for (;;) {
        ssize_t n = splice(d->from, NULL, p[1], NULL, CHUNK, SPLICE_F_MOVE);
        if (n <= 0)
            break;
        while (n > 0) {
            ssize_t m = splice(p[0], NULL, d->to, NULL, n, SPLICE_F_MOVE);
            if (m <= 0) {
                perror("splice_relay: splice");
                exit(1);
            }
            n -= m;
        }
    }
    shutdown(d->to, SHUT_WR);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s TARGET_PORT\n", argv[0]);
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0) {
        perror("splice_relay: listen");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_port = htons(atoi(argv[1]));
    if (c < 0 || u < 0 || connect(u, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("splice_relay: connect");
        return 1;
    }
    struct dir up = {c, u}, down = {u, c};
    pthread_t t;
    if (pthread_create(&t, NULL, pump, &down)) {
        fprintf(stderr, "splice_relay: no thread\n");
        return 1;
    }
    pump(&up);
    pthread_join(t, NULL);
    return 0;
}
