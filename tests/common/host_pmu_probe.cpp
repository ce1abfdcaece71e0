// host_pmu_probe: prints what tests/common/host_pmu.hpp finds on this machine, for the e2e
// harness (on the host, and statically linked inside the guest).
//   host_pmu_probe          one line: "host has a PMU: ..." or "no PMU: ..."
//   host_pmu_probe --json   the same as one JSON object, with every hardware event
#include <cstring>
#include <iostream>

#include "tests/common/host_pmu.hpp"

int main(int argc, char** argv) {
  const auto pmu = perfkvm::test::probe_host_pmu();
  if (argc > 1 && std::strcmp(argv[1], "--json") == 0) {
    std::cout << pmu.json() << "\n";
  } else {
    std::cout << pmu.describe() << "\n";
  }
  return 0;
}
