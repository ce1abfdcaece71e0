/* perfkvm_roi.h: a region of interest and phases from inside a C or C++ benchmark run by
 * perfkvm, without spawning `perfkvm ctl` (which does the same from a shell script).
 *
 *   perfkvm -D -1 -- ./bench          counting starts disabled ...
 *   perfkvm_roi_begin();              ... and covers only what runs from here
 *   perfkvm_mark("query");            a new phase: the report gets a block per phase
 *   perfkvm_roi_end();                counting off again
 *
 * Each call asks the perfkvm that runs the program, through the socket PERFKVM_CTL names, and
 * returns once the host has read the counters for it: 0 then, -1 otherwise (not run by
 * perfkvm, a host that cannot take snapshots, counting already over), with errno set (ENOENT:
 * PERFKVM_CTL is not set; EPROTO: perfkvm refused the request). A program not run by perfkvm
 * therefore runs unchanged. Blocking, not thread-safe against signals that longjmp; one
 * request at a time per call. The line protocol: guest-agent/control_line.hpp.
 * Header only, C99 and C++, POSIX; no allocation. */
#ifndef PERFKVM_ROI_H
#define PERFKVM_ROI_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sends one request line ("enable\n", ...) and waits for "ok\n". */
static inline int perfkvm_roi_request_(const char *line, size_t length) {
  const char *path = getenv("PERFKVM_CTL");
  struct sockaddr_un address;
  char answer[256];
  size_t received = 0;
  int fd;
  if (path == NULL || *path == '\0') {
    errno = ENOENT;
    return -1;
  }
  if (strlen(path) >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, path, strlen(path) + 1);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr *)&address, sizeof address) != 0 ||
      send(fd, line, length, MSG_NOSIGNAL) != (ssize_t)length) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  while (received < sizeof answer - 1) {
    ssize_t n = recv(fd, answer + received, sizeof answer - 1 - received, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    received += (size_t)n;
    if (memchr(answer, '\n', received) != NULL) break;
  }
  close(fd);
  if (received >= 3 && memcmp(answer, "ok\n", 3) == 0) return 0;
  errno = EPROTO;
  return -1;
}

/* Counting on from here (perfkvm ctl enable). */
static inline int perfkvm_roi_begin(void) { return perfkvm_roi_request_("enable\n", 7); }

/* Counting off from here (perfkvm ctl disable). */
static inline int perfkvm_roi_end(void) { return perfkvm_roi_request_("disable\n", 8); }

/* A phase called `name` from here (perfkvm ctl mark NAME): 1 to 64 bytes, no control
 * characters and no newline; anything else is refused (EINVAL). */
static inline int perfkvm_mark(const char *name) {
  char line[5 + 64 + 1];
  size_t length = name ? strlen(name) : 0;
  size_t i;
  if (length == 0 || length > 64) {
    errno = EINVAL;
    return -1;
  }
  for (i = 0; i < length; ++i) {
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
      errno = EINVAL;
      return -1;
    }
  }
  memcpy(line, "mark ", 5);
  memcpy(line + 5, name, length);
  line[5 + length] = '\n';
  return perfkvm_roi_request_(line, 5 + length + 1);
}

#ifdef __cplusplus
}
#endif

#endif /* PERFKVM_ROI_H */
