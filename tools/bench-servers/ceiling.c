/* ceiling: roughly the fastest an HTTP/1.1 server on one epoll loop can be.
 *
 * No parsing: every "\r\n\r\n" seen on a connection (also when split across
 * reads) ends a request and gets one canned 200 "Hello, World!" answer; the
 * answers for one read leave in one write. The answer has the headers
 * sluice-http's has (Server, Date, Content-Length, Content-Type), of the same
 * lengths, with a Date that never changes: where wrk is the limit, its cost
 * per answer grows with the answer's headers, and a ceiling that answered
 * with fewer would set a bar no server sending the same answer could reach
 * (pipelined x16: 1.27 million answers/s with two headers, 1.19 million with
 * these four, and sluice 1.19 million, in alternating runs on the 2-core VM).
 * Shortcuts, on purpose:
 *   - every path gets the same answer (/json too);
 *   - a POST is answered when its header section ends; its body is read and
 *     ignored (a body holding "\r\n\r\n" would get extra answers; the
 *     benchmark's bodies are all 'x');
 *   - a write the socket cannot take whole closes the connection (the client
 *     always reads its answers, so it does not happen in the benchmark).
 * usage: ceiling PORT   (listens on 127.0.0.1) */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char kAnswer[] =
    "HTTP/1.1 200 OK\r\nServer: ceiling\r\nDate: Wed, 02 Dec 2026 09:09:03 GMT\r\nContent-Length: 13\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nHello, World!";
enum { kAnswerLen = sizeof kAnswer - 1, kMaxAnswers = 256, kMaxFds = 65536 };
static unsigned char matched[kMaxFds]; /* per fd: how much of "\r\n\r\n" ends its bytes so far */

/* Counts request ends in buf, carrying a partial match in *state. */
static int count_ends(const char *buf, ssize_t n, unsigned char *state) {
  int ends = 0;
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == (*state % 2 == 0 ? '\r' : '\n')) ++*state;
    else *state = buf[i] == '\r';
    if (*state == 4) { ends++; *state = 0; }
  }
  return ends;
}

/* Reads all there is and answers it; returns 0 once the connection is done. */
static int serve(int fd) {
  static char in[65536], out[kMaxAnswers * kAnswerLen];
  for (;;) {
    ssize_t n = read(fd, in, sizeof in);
    if (n <= 0) return n < 0 && errno == EAGAIN;
    for (int ends = count_ends(in, n, &matched[fd]); ends > 0; ends -= kMaxAnswers) {
      int batch = ends < kMaxAnswers ? ends : kMaxAnswers;
      for (int i = 0; i < batch; i++) memcpy(out + i * kAnswerLen, kAnswer, kAnswerLen);
      if (write(fd, out, (size_t)batch * kAnswerLen) != (ssize_t)batch * kAnswerLen) return 0;
    }
  }
}

int main(int argc, char **argv) {
  int one = 1, listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  addr.sin_port = htons(argc > 1 ? atoi(argv[1]) : 8080);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4096) != 0) return 1;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener}, events[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd != listener) {
        if (!serve(fd)) close(fd); /* close also takes it out of the epoll set */
        continue;
      }
      int c;
      while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        if (c >= kMaxFds) { close(c); continue; }
        matched[c] = 0;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ev = (struct epoll_event){.events = EPOLLIN, .data.fd = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
      }
    }
  }
}
