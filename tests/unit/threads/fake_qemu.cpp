// Stands in for a QEMU process in live_proc_test.cpp: the test starts it with argv[0] and
// arguments like libvirt's QEMU, so /proc/<pid>/cmdline looks like one. It says "ready" on
// stdout, then lives until its stdin reaches EOF (the test closes the pipe), or 60 s as a
// safety net.
#include <unistd.h>

int main() {
  alarm(60);
  // Only now is /proc/self/cmdline certain to be ours: the kernel lets a vfork parent
  // (posix_spawn) run on before exec has set up the new argv, which reads as empty meanwhile.
  if (write(STDOUT_FILENO, "r", 1) != 1) return 1;
  char buffer[64];
  while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
  }
  return 0;
}
