#!/usr/bin/env python3
"""perfkvm end to end: a real libvirtd, TCG guests booted from Debian packages, perfkvm-hostd
on the host and the static perfkvm in the guest. Needs root. See README.md here.

  e2e.py [options] run          the scenarios; one PASS/FAIL line each; exit 1 on a failure
  e2e.py [options] vsock-host   host <-> guest AF_VSOCK; exit 77 (skipped) without
                                /dev/vhost-vsock
  e2e.py [options] demo [CMD]   boot a guest, run perfkvm -p CMD in it, show what the guest
                                user sees (--installed ROOT: with the packaged programs)
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import scenarios  # noqa: E402  (after the line above)
from lab import (Domain, Failure, Hostd, Lab, build_guest_image,  # noqa: E402
                 build_static_programs, cleanup_state, exclusive_lock, have_root, libvirt_up,
                 log, print_block)
from reports import parse_human  # noqa: E402

SKIP = 77  # meson's "skipped" exit status
DEMO_COMMAND = "md5sum /bin/perfkvm /bin/busybox; sort -r /bin/busybox | md5sum"
DEMO_EVENTS = "task-clock,context-switches,page-faults,cycles"


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = Path(__file__).resolve().parent.parent.parent
    parser.add_argument("--source-dir", default=str(source), help="perfkvm's source tree")
    parser.add_argument("--build-dir", default=str(source / "build"),
                        help="the build directory with host-agent/perfkvm-hostd")
    parser.add_argument("--static-build-dir",
                        help="build directory for the guest's static programs "
                             "(default: BUILD_DIR/e2e-static, set up on first use)")
    parser.add_argument("--only", metavar="N[,N...]",
                        help="run only these scenarios (their numbers, e.g. 13 or 5a,1), in the "
                             "suite's order; default: all")
    parser.add_argument("--installed", metavar="ROOT",
                        help="demo only: the programs as the Debian packages install them under "
                             "ROOT (ROOT/usr/bin/perfkvm-hostd on the host, ROOT/usr/bin/perfkvm "
                             "in the guest) instead of the build's")
    parser.add_argument("what", choices=["run", "vsock-host", "demo"])
    parser.add_argument("command", nargs="?", default=DEMO_COMMAND,
                        help="demo only: the workload perfkvm runs in the guest")
    return parser.parse_args()


def prepare(args, lab):
    """Static programs, guest image, libvirtd: everything but hostd and the domains."""
    build = Path(args.build_dir).resolve()
    programs = build_static_programs(args.source_dir,
                                     args.static_build_dir or build / "e2e-static")
    hostd = build / "host-agent" / "perfkvm-hostd"
    if args.installed:
        installed = Path(args.installed).resolve()
        programs["perfkvm"] = installed / "usr" / "bin" / "perfkvm"
        hostd = installed / "usr" / "bin" / "perfkvm-hostd"
        for program in (programs["perfkvm"], hostd):
            if not os.access(program, os.X_OK):
                raise Failure(f"--installed {installed}: no program {program}")
        log(f"the installed programs: {hostd} on the host, {programs['perfkvm']} in the guest")
    image = build_guest_image(build / "e2e-cache", programs)
    libvirt_up(lab)
    return image, hostd


def report_failure_logs(lab, ctx):
    print("host load average (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg())
    for domain in ctx.domains.values():
        console = domain.console_text()
        print_block(f"console of {domain.name}", console)
        if "soft lockup" in console or "self-detected stall" in console:
            # Under TCG a guest CPU "stalls" when its vCPU thread gets no host CPU for long.
            print(f"note: {domain.name}'s kernel saw a stalled CPU: its TCG vCPU threads were "
                  f"starved of host CPU time (or the guest kernel hung)")
    for path in sorted(lab.dir.glob("hostd*.log")) + sorted(lab.dir.glob("prometheus.log")):
        print_block(f"{path.name}", path.read_text(errors="replace"))


def run_scenarios(args, lab):
    selected = scenarios.SCENARIOS
    if args.only:  # for development: a scenario that needs an earlier one's state says so
        wanted = args.only.split(",")
        unknown = set(wanted) - {number for number, _, _ in scenarios.SCENARIOS}
        if unknown:
            raise Failure(f"--only: no scenario {', '.join(sorted(unknown))}")
        selected = [entry for entry in scenarios.SCENARIOS if entry[0] in wanted]
    image, hostd_binary = prepare(args, lab)
    ctx = scenarios.Context(lab, image, hostd_binary)
    ctx.start_hostd("hostd-1.log")
    results = []
    for number, title, scenario in selected:
        started = time.monotonic()
        try:
            summary = scenario(ctx)
            ok = True
        except Failure as failure:
            summary, ok = str(failure), False
        except Exception as error:  # a bug or an unexpected state: report it as this failure
            summary, ok = f"{type(error).__name__}: {error}", False
        seconds = time.monotonic() - started
        verdict = "PASS" if ok else "FAIL"
        print(f"{verdict} {number} {title} ({seconds:.1f} s): {summary}", flush=True)
        results.append(ok)
        if not ok and number in ("5a",):
            print("(no guest: the other scenarios cannot run)")
            break
    passed = sum(results)
    failed = len(selected) - passed
    if failed:
        report_failure_logs(lab, ctx)
    print(f"e2e: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def run_vsock_host(args, lab):
    image, hostd_binary = prepare(args, lab)
    hostd = Hostd(lab, hostd_binary, "hostd-vsock.log").start()
    domain = Domain(lab, "perfkvm-e2e-vsock", image, perfkvm_channel=None, vsock_cid=42)
    try:
        domain.start()
        guest = domain.control()
        # No virtio-serial channel: perfkvm falls back to vsock CID 2 port 9999 by itself.
        result = scenarios.perfkvm(guest, "-e task-clock -A -p 'e2e_spin 1 1'")
        scenarios.expect_status(result, 0, "perfkvm over vsock")
        output = parse_human(result.err)
        busy = output.value("task-clock", 1)
        scenarios.expect(busy >= 500, f"vCPU1 {busy:.0f} ms for a 1 s spin, expected >= 500")
        scenarios.expect("vsock CID 42" in hostd.log_text(), "hostd logged no vsock session")
        print(f"PASS vsock-host: perfkvm over vsock CID 42 -> host: vCPU1 {busy:.0f} ms")
        return 0
    except Failure as failure:
        print(f"FAIL vsock-host: {failure}")
        print_block(f"console of {domain.name}", domain.console_text())
        print_block("hostd log", hostd.log_text())
        return 1


def run_demo(args, lab):
    image, hostd_binary = prepare(args, lab)
    ctx = scenarios.Context(lab, image, hostd_binary)
    ctx.start_hostd("hostd-demo.log")
    domain = ctx.boot("perfkvm-demo", "auto")
    guest = domain.control()
    command = f'perfkvm -p "{args.command}" -e {DEMO_EVENTS} -i 500'
    # 2>&1: the workload's output and perfkvm's report interleaved as on the guest's terminal.
    result = guest.run(f"{command} 2>&1", timeout=300)
    print()
    print(f"guest# {command}")
    sys.stdout.write(result.out)
    print(f"guest# echo $?\n{result.status}\n", flush=True)
    if result.status != 0:
        print_block("perfkvm-hostd's log", ctx.hostd.log_text())
    return result.status


def cleanup_after_kill(state_file):
    """`e2e.py cleanup STATE`: the detached cleanup of a run that was killed."""
    with exclusive_lock():
        try:
            state = json.loads(Path(state_file).read_text())
        except (OSError, ValueError):
            return 0  # the run cleaned up after itself after all
        cleanup_state(state)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "cleanup":
        return cleanup_after_kill(sys.argv[2])
    args = parse_arguments()
    if args.what == "vsock-host" and not os.path.exists("/dev/vhost-vsock"):
        print("SKIP e2e-vsock-host: /dev/vhost-vsock does not exist on this host (its kernel has "
              "no vhost_vsock), so a domain with <vsock> cannot start ('unable to open "
              "vhost-vsock device'). The guest side of AF_VSOCK and hostd's vsock listener are "
              "covered by scenario 8 of the e2e test (vsock loopback inside the guest).")
        return SKIP
    have_root()
    build = Path(args.build_dir).resolve()
    with exclusive_lock():
        lab = Lab(build, keep_dir=build / "e2e-logs" / args.what)

        def killed(signum, _frame):
            # meson's timeout: SIGTERM to the process group, SIGKILL 0.5 s later. Too soon to
            # stop domains and libvirtd here: a new session does it, after this process is gone.
            print(f"e2e: signal {signum}", flush=True)
            lab.cleanup_detached(Path(__file__).resolve())
            os._exit(1)

        signal.signal(signal.SIGTERM, killed)
        signal.signal(signal.SIGHUP, killed)
        return run_in(args, lab, build)


def run_in(args, lab, build):
    try:
        if args.what == "run":
            return run_scenarios(args, lab)
        if args.what == "vsock-host":
            return run_vsock_host(args, lab)
        return run_demo(args, lab)
    except Failure as failure:
        print(f"FAIL e2e setup: {failure}")
        return 1
    except KeyboardInterrupt as interrupt:
        print(f"e2e: interrupted ({interrupt}); cleaning up")
        return 1
    finally:
        started = time.monotonic()
        lab.cleanup()
        log(f"cleaned up in {time.monotonic() - started:.1f} s; logs in "
            f"{build / 'e2e-logs' / args.what}")


if __name__ == "__main__":
    sys.exit(main())
