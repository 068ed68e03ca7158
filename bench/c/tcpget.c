/* Connects to a TCP server and reads what it sends until EOF, timed from the first byte to
 * EOF so that connecting (and the proxy's admission) is not counted.
 *
 *   tcpget [--connect] [--out] HOST PORT
 *
 * Without --connect it resolves HOST with getaddrinfo and dials the address it gets: a
 * client that ignores the proxy variables (inside mcpcell's proxy mode, the transparent
 * path). With --connect it dials the proxy named by $HTTPS_PROXY (http://IP:PORT) and asks
 * it for an `HTTP CONNECT HOST:PORT` tunnel, as a proxy-aware client does. With --out the
 * bytes go to stdout (to check them); otherwise they are dropped and one JSON line
 * {"bytes": N, "seconds": S} is printed. */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timing.h"

static char buf[1 << 17];

static int dial(const char *host, const char *port) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    int e = getaddrinfo(host, port, &hints, &res);
    if (e) {
        fprintf(stderr, "tcpget: %s: %s\n", host, gai_strerror(e));
        exit(1);
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        perror("tcpget: connect");
        exit(1);
    }
    freeaddrinfo(res);
    return fd;
}

/* Sends CONNECT and reads the reply's head; returns how many bytes after the head are
 * already in buf (the start of the data). */
static size_t tunnel(int fd, const char *host, const char *port) {
    int n = snprintf(buf, sizeof buf, "CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n", host,
                     port, host, port);
    if (write(fd, buf, n) != n) {
        perror("tcpget: write");
        exit(1);
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0) {
            fprintf(stderr, "tcpget: the proxy closed the connection before answering\n");
            exit(1);
        }
        got += r;
        buf[got] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            if (strncmp(buf, "HTTP/1.1 200", 12) && strncmp(buf, "HTTP/1.0 200", 12)) {
                fprintf(stderr, "tcpget: the proxy refused: %.*s\n", (int)(end - buf), buf);
                exit(1);
            }
            size_t head = end + 4 - buf;
            memmove(buf, buf + head, got - head);
            return got - head;
        }
    }
}

int main(int argc, char **argv) {
    int via_proxy = 0, out = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--connect"))
            via_proxy = 1;
        else if (!strcmp(argv[i], "--out"))
            out = 1;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: %s [--connect] [--out] HOST PORT\n", argv[0]);
        return 2;
    }
    const char *host = argv[i], *port = argv[i + 1];
    int fd;
    size_t pending = 0;
    if (via_proxy) {
        /* http://IP:PORT[/] */
        const char *p = getenv("HTTPS_PROXY");
        static char addr[256];
        if (!p || strncmp(p, "http://", 7) || strlen(p) >= sizeof addr) {
            fprintf(stderr, "tcpget: --connect needs HTTPS_PROXY=http://IP:PORT\n");
            return 2;
        }
        strcpy(addr, p + 7);
        char *slash = strchr(addr, '/');
        if (slash)
            *slash = 0;
        char *colon = strrchr(addr, ':');
        if (!colon) {
            fprintf(stderr, "tcpget: no port in HTTPS_PROXY\n");
            return 2;
        }
        *colon = 0;
        fd = dial(addr, colon + 1);
        pending = tunnel(fd, host, port);
    } else {
        fd = dial(host, port);
    }
    long long total = 0;
    double t0 = 0;
    if (pending) {
        t0 = now_s();
        total = pending;
        if (out && write(1, buf, pending) != (ssize_t)pending)
            return 1;
    }
    for (;;) {
        ssize_t n = timed_read(fd, buf, sizeof buf, &total, &t0);
        if (n < 0) {
            perror("tcpget: read");
            return 1;
        }
        if (n == 0)
            break;
        if (out) {
            for (ssize_t w = 0; w < n;) {
                ssize_t m = write(1, buf + w, n - w);
                if (m <= 0) {
                    perror("tcpget: write");
                    return 1;
                }
                w += m;
            }
        }
    }
    double secs = total ? now_s() - t0 : 0;
    if (!out)
        printf("{\"bytes\": %lld, \"seconds\": %.6f}\n", total, secs);
    return 0;
}
