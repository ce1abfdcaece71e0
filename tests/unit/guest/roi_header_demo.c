/* perfkvm_roi.h from C (built as C99 with every warning an error): run by perfkvm against the
 * fake host (tests/data/guest/sessions/roi-header-from-c.json), or alone. Prints each call's
 * result so that the fixture can check it. */
#include "guest-agent/perfkvm_roi.h"

#include <stdio.h>
#include <string.h>

static void report(const char *what, int result) {
  printf("%s=%d%s%s\n", what, result, result == 0 ? "" : " ", result == 0 ? "" : strerror(errno));
}

int main(void) {
  char too_long[66];
  memset(too_long, 'x', 65);
  too_long[65] = '\0';
  report("begin", perfkvm_roi_begin());
  report("mark", perfkvm_mark("compute"));
  report("end", perfkvm_roi_end());
  report("mark-too-long", perfkvm_mark(too_long));
  report("mark-newline", perfkvm_mark("a\nb"));
  return 0;
}
