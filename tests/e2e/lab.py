"""The pieces of the e2e lab: builds, libvirtd, domains, the guest's control channel,
perfkvm-hostd, host-side perf. Everything started is recorded in the Lab and stopped by its own
pid (or domain name), also when a scenario fails or the run is interrupted or killed."""

import base64
import contextlib
import fcntl
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTROL_CHANNEL = "org.perfkvm.e2e-control.0"
PERFKVM_CHANNEL = "org.perfkvm.0"
STATIC_TARGETS = {
    "perfkvm": "guest-agent/perfkvm",
    "vsock_test_host": "tests/e2e/vsock_test_host",
    "e2e_spin": "tests/e2e/e2e_spin",
    "e2e_roi_latency": "tests/e2e/e2e_roi_latency",  # perfkvm_roi.h timed
    "host_pmu_probe": "tests/common/host_pmu_probe",  # the PMU probe, inside the guest
}
_started = time.monotonic()


class Failure(Exception):
    """A scenario's assertion or a lab step failed; the message says what and where."""


def log(message):
    print(f"[{time.monotonic() - _started:6.1f} s] {message}", flush=True)


def run(argv, timeout=600, check=True, **kwargs):
    """Runs a program (never a shell); returns CompletedProcess with text output."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise Failure(f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
                      f"{result.stdout}{result.stderr}")
    return result


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate until it returns a true value (returned) or timeout passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Lab:
    """A run's scratch directory (sockets, consoles, logs) and what it started, recorded in
    state.json as it goes: the cleanup works from that record, in this process or, when the
    process is being killed (meson's timeout: SIGTERM, SIGKILL 0.5 s later), in a detached
    `e2e.py cleanup` (see cleanup_detached)."""

    def __init__(self, build_dir, keep_dir=None):
        self.build_dir = Path(build_dir).resolve()
        # /tmp, world-traversable: QEMU runs as libvirt-qemu and opens kernel and initrd there.
        self.dir = Path(tempfile.mkdtemp(prefix="perfkvm-e2e.", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.state_path = self.dir / "state.json"
        self.state = {"dir": str(self.dir), "keep_dir": str(keep_dir) if keep_dir else None,
                      "processes": [], "domains": [], "libvirt": None, "users": []}
        self._save()

    def _save(self):
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state))
        temporary.replace(self.state_path)

    def track_process(self, pid, comm):
        self.state["processes"].append([pid, comm])
        self._save()

    def untrack_process(self, pid):
        self.state["processes"] = [p for p in self.state["processes"] if p[0] != pid]
        self._save()

    def track_domain(self, name):
        self.state["domains"].append(name)
        self._save()

    def untrack_domain(self, name):
        self.state["domains"] = [d for d in self.state["domains"] if d != name]
        self._save()

    def system_user(self, name, groups):
        """The system user `name` in `groups`, as a package would create it (removed at cleanup
        if this run created it)."""
        if run(["getent", "passwd", name], check=False).returncode != 0:
            run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                 "/nonexistent", "--shell", "/usr/sbin/nologin", name])
            self.state["users"].append(name)
            self._save()
        if groups:
            run(["usermod", "--append", "--groups", ",".join(groups), name])

    def track_libvirt(self, state_dir):
        self.state["libvirt"] = str(state_dir)
        self._save()

    @property
    def libvirt_state(self):
        return Path(self.state["libvirt"])

    def virsh(self):
        return virsh(self.libvirt_state)

    def libvirt_uri(self):
        return libvirt_uri(self.libvirt_state)

    def namespace_root(self):
        """/ as the suite's libvirtd sees it (its private /run/libvirt, /var/lib/libvirt)."""
        holder = (self.libvirt_state / "holder.pid").read_text().strip()
        return Path(f"/proc/{holder}/root")

    def cleanup(self):
        cleanup_state(self.state)

    def cleanup_detached(self, driver):
        """Hands the cleanup to a new session that outlives this process group."""
        # Not to our stdout: whoever reads it (meson) may be gone before the cleanup ends.
        log_path = (Path(self.state["keep_dir"]).parent if self.state["keep_dir"]
                    else self.dir.parent) / "killed-run-cleanup.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as output:
            subprocess.Popen([sys.executable, str(driver), "cleanup", str(self.state_path)],
                             stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                             start_new_session=True)
        print(f"e2e: cleanup continues in the background; its log: {log_path}", flush=True)


def _is_running(pid, comm):
    """pid is still the program recorded, and not a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)  # our own child: reap it once it exits
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (comm) state ...": comm may contain spaces and parentheses, so split at the last ')'.
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    return name == comm and stat[stat.rindex(")") + 2] != "Z"


def stop_process(pid, comm, timeout=10):
    """SIGTERM, SIGKILL after timeout; only if pid is still the program recorded (comm)."""
    if not _is_running(pid, comm):
        return
    os.kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not _is_running(pid, comm), timeout):
        os.kill(pid, signal.SIGKILL)
        log(f"cleanup: killed {comm} {pid}")


def terminate(lab, process, timeout=10):
    """Stops a process this driver started: SIGTERM, SIGKILL after `timeout`; no longer tracked."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    lab.untrack_process(process.pid)


def libvirt_uri(state_dir, read_only=False):
    """The suite's own libvirtd (libvirt-up.sh): qemu:///system on its private socket (the
    read-only one: what an unprivileged client can open)."""
    return f"qemu:///system?socket={state_dir}/sock/libvirt-sock{'-ro' if read_only else ''}"


def virsh(state_dir):
    return ["virsh", "-q", "-c", libvirt_uri(state_dir)]


def in_libvirt_namespace(state_dir, argv):
    """argv run in the mount namespace of the suite's libvirtd (libvirt-ns.sh)."""
    return [str(HERE / "libvirt-ns.sh"), str(state_dir), *map(str, argv)]


def cleanup_state(state):
    """Stops what a Lab recorded: processes, then domains, then libvirtd; keeps the logs."""
    for pid, comm in reversed(state["processes"]):
        try:
            stop_process(pid, comm)
        except OSError as error:
            log(f"cleanup: {comm} {pid}: {error}")
    for name in reversed(state["domains"]):
        if not state["libvirt"]:
            break
        result = run(virsh(state["libvirt"]) + ["destroy", name], check=False, timeout=60)
        if result.returncode != 0 and "not found" not in result.stderr:
            log(f"cleanup: virsh destroy {name}: {result.stderr.strip()}")
    for name in state.get("users", []):
        result = run(["userdel", name], check=False)
        if result.returncode != 0:
            log(f"cleanup: userdel {name}: {result.stderr.strip()}")
    if state["libvirt"]:
        result = run([str(HERE / "libvirt-down.sh"), state["libvirt"]], check=False)
        for line in (result.stdout + result.stderr).splitlines():
            log(line)
    scratch = Path(state["dir"])
    if state["keep_dir"]:
        # The logs of the last run stay in the build directory; the scratch dir goes.
        keep = Path(state["keep_dir"])
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        (keep / "WHEN").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
        for path in scratch.rglob("*.log"):
            shutil.copy(path, keep)
    shutil.rmtree(scratch, ignore_errors=True)


# ---- builds ---------------------------------------------------------------------------------

def build_static_programs(source_dir, static_dir):
    """The guest's static programs, from a build directory configured with -Dstatic_guest=true
    (set up here on first use). Returns {name: path}."""
    static_dir = Path(static_dir).resolve()
    if not (static_dir / "build.ninja").exists():
        log(f"setting up the static build directory {static_dir}")
        run(["meson", "setup", str(static_dir), "-Dstatic_guest=true"], cwd=source_dir)
    options = json.loads((static_dir / "meson-info" / "intro-buildoptions.json").read_text())
    static = next((o["value"] for o in options if o["name"] == "static_guest"), False)
    if not static:
        raise Failure(f"{static_dir} is not configured with -Dstatic_guest=true")
    started = time.monotonic()
    run(["ninja", "-C", str(static_dir)] + list(STATIC_TARGETS.values()), timeout=1800)
    log(f"static guest programs up to date ({time.monotonic() - started:.1f} s)")
    return {name: static_dir / target for name, target in STATIC_TARGETS.items()}


def build_guest_image(cache_dir, programs):
    """Kernel + initramfs, cached by build-guest.sh; returns the image directory."""
    started = time.monotonic()
    result = run([str(HERE / "build-guest.sh"), str(cache_dir), str(programs["perfkvm"]),
                  str(programs["vsock_test_host"]), str(programs["e2e_spin"]),
                  str(programs["host_pmu_probe"]), str(programs["e2e_roi_latency"])],
                 timeout=900)
    image = Path(result.stdout.strip().splitlines()[-1])
    log(f"guest image {image.name} ({time.monotonic() - started:.1f} s)")
    return image


# ---- the PMU probe --------------------------------------------------------------------------

@dataclass
class Pmu:
    """What tests/common/host_pmu.hpp found (host_pmu_probe --json): whether cycles and
    instructions count on a busy thread, and which hardware events open, per perf name
    ("cycles", "bus-cycles", "cycles:G", "instructions:H", ...)."""
    present: bool
    describe: str
    events: dict

    def opens(self, name):
        return self.events[name]["opens"]

    def branch(self, with_pmu, without):
        """The sentence a scenario prints for the branch it takes."""
        return f"{self.describe}: {with_pmu if self.present else without}"


def parse_pmu_probe(text, where):
    try:
        probe = json.loads(text.strip().splitlines()[-1])
        return Pmu(probe["present"], probe["describe"], probe["events"])
    except (IndexError, ValueError, KeyError) as error:
        raise Failure(f"host_pmu_probe {where} printed no probe ({error}): {text!r}")


def host_pmu(build_dir):
    """The shared PMU probe run on the host (the same code the C++ tests call)."""
    probe = Path(build_dir) / "tests" / "common" / "host_pmu_probe"
    pmu = parse_pmu_probe(run([str(probe), "--json"]).stdout, "on the host")
    log(f"host PMU probe: {pmu.describe}")
    return pmu


# ---- libvirt --------------------------------------------------------------------------------

def libvirt_up(lab):
    """The suite's own libvirtd, on every machine (libvirt-up.sh); returns its state dir."""
    state = lab.dir / "libvirt"
    state.mkdir()
    # Recorded first: libvirt-down.sh stops only what libvirt-up.sh started, whatever happens.
    lab.track_libvirt(state)
    result = run([str(HERE / "libvirt-up.sh"), str(state),
                  str(lab.build_dir / "e2e-cache" / "libvirt-cache")], timeout=120)
    for line in result.stdout.splitlines():
        log(line)
    return state


class Domain:
    """A transient TCG domain (virsh create): destroying it is all the cleanup it needs."""

    def __init__(self, lab, name, image, perfkvm_channel="auto", vsock_cid=None):
        """perfkvm_channel: "auto" (libvirt picks the socket path), a path, or None."""
        self.lab, self.name = lab, name
        self.console_log = lab.dir / f"{name}.console.log"
        self.control_socket = lab.dir / f"{name}.control.sock"
        kernel, initrd = lab.dir / f"{name}.vmlinuz", lab.dir / f"{name}.initrd.gz"
        shutil.copy(image / "vmlinuz", kernel)
        shutil.copy(image / "initrd.cpio.gz", initrd)
        if perfkvm_channel is None:
            channel = ""
        else:
            path = "" if perfkvm_channel == "auto" else f" path='{perfkvm_channel}'"
            channel = (f"    <channel type='unix'>\n      <source mode='bind'{path}/>\n"
                       f"      <target type='virtio' name='{PERFKVM_CHANNEL}'/>\n    </channel>")
        vsock = ("" if vsock_cid is None else
                 f"    <vsock model='virtio'><cid auto='no' address='{vsock_cid}'/></vsock>")
        xml = (HERE / "domain.xml.in").read_text()
        for key, value in {"NAME": name, "KERNEL": kernel, "INITRD": initrd,
                           "CONSOLE": self.console_log, "CONTROL": self.control_socket,
                           "PERFKVM_CHANNEL": channel, "VSOCK": vsock}.items():
            xml = xml.replace(f"@{key}@", str(value))
        self.xml_path = lab.dir / f"{name}.xml"
        self.xml_path.write_text(xml)
        self.running = False
        self._control = None

    def start(self):
        self.lab.track_domain(self.name)
        run(self.lab.virsh() + ["create", str(self.xml_path)], timeout=120)
        self.running = True
        self.started_at = time.monotonic()
        log(f"domain {self.name} started (QEMU pid {self.qemu_pid()})")

    def destroy(self):
        if self._control:
            self._control.close()
            self._control = None
        if self.running:
            self.running = False
            run(self.lab.virsh() + ["destroy", self.name], check=False, timeout=60)
            self.lab.untrack_domain(self.name)

    def save_and_restore(self, path):
        """virsh save (the guest's state to `path`; its QEMU process exits), then virsh restore
        (a new QEMU process runs it on from there). Returns the seconds the guest was gone."""
        began = time.monotonic()
        run(self.lab.virsh() + ["save", self.name, str(path)], timeout=120)
        run(self.lab.virsh() + ["restore", str(path)], timeout=120)
        log(f"domain {self.name} saved and restored (QEMU pid now {self.qemu_pid()})")
        if self._control:
            self._control.reconnect(self.control_socket)
        return time.monotonic() - began

    def kill_qemu(self):
        """SIGKILL to the domain's QEMU, as the OOM killer or a crash would end it: libvirt
        notices the process gone and (the domain is transient) forgets the domain."""
        if self._control:
            self._control.close()
            self._control = None
        os.kill(self.qemu_pid(), signal.SIGKILL)
        self.running = False
        self.lab.untrack_domain(self.name)

    def qemu_pid(self):
        pid_file = self.lab.namespace_root() / f"run/libvirt/qemu/{self.name}.pid"
        return int(pid_file.read_text().strip())

    def vcpu_tids(self):
        """{vCPU index: host thread id}, from the QEMU threads' names ("CPU n/TCG")."""
        tids = {}
        task_dir = Path(f"/proc/{self.qemu_pid()}/task")
        for task in task_dir.iterdir():
            try:
                comm = (task / "comm").read_text().strip()
            except OSError:
                continue
            match = re.fullmatch(r"CPU (\d+)/(TCG|KVM)", comm)
            if match:
                tids[int(match.group(1))] = int(task.name)
        return tids

    def live_channel_path(self, target_name):
        xml = run(self.lab.virsh() + ["dumpxml", self.name]).stdout
        for channel in re.findall(r"<channel type='unix'>.*?</channel>", xml, re.S):
            if f"name='{target_name}'" in channel:
                match = re.search(r"<source mode='bind' path='([^']+)'", channel)
                return match.group(1) if match else None
        return None

    def domstats_vcpu_time_ns(self, vcpu):
        stats = run(self.lab.virsh() + ["domstats", "--vcpu", self.name]).stdout
        match = re.search(rf"vcpu\.{vcpu}\.time=(\d+)", stats)
        if not match:
            raise Failure(f"virsh domstats --vcpu {self.name}: no vcpu.{vcpu}.time in:\n{stats}")
        return int(match.group(1))

    def control(self, timeout=120):
        """The guest's control agent, once it said READY (the guest has booted)."""
        if not self._control:
            self._control = GuestControl(self.control_socket, self.name)
            ready = self._control.wait_ready(timeout)
            log(f"guest {self.name} ready {time.monotonic() - self.started_at:.1f} s after "
                f"start ({ready})")
        return self._control

    def console_text(self):
        try:
            return self.console_log.read_text(errors="replace")
        except OSError as error:
            return f"(no console log: {error})"


# ---- the guest's control channel ------------------------------------------------------------

@dataclass
class Result:
    status: int
    out: str
    err: str
    seconds: float


class GuestControl:
    """Client of guest/control-agent.sh over the domain's control channel socket."""

    def __init__(self, path, name):
        self.name = name
        self._buffer = b""
        self._next_id = 1
        connected = wait_until(lambda: self._try_connect(path), 30, 0.1)
        if not connected:
            raise Failure(f"domain {name}: cannot connect to its control channel {path}")

    def _try_connect(self, path):
        try:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._socket.connect(str(path))
            return True
        except OSError:
            self._socket.close()
            return False

    def close(self):
        self._socket.close()

    def reconnect(self, path):
        """To the control channel of a new QEMU process of the same guest (virsh restore): the
        agent in the guest runs on, and so do its jobs and their ids (no READY again)."""
        self._socket.close()
        self._buffer = b""
        if not wait_until(lambda: self._try_connect(path), 30, 0.1):
            raise Failure(f"domain {self.name}: cannot reconnect to its control channel {path}")

    def _fill(self, deadline, waiting_for):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._socket], [], [], remaining)[0]:
            raise Failure(f"guest {self.name}: no {waiting_for} from the control agent in time")
        chunk = self._socket.recv(65536)
        if not chunk:
            raise Failure(f"guest {self.name}: control channel closed (guest gone?) while "
                          f"waiting for {waiting_for}")
        self._buffer += chunk

    def _line(self, deadline, waiting_for):
        while b"\n" not in self._buffer:
            self._fill(deadline, waiting_for)
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def _bytes(self, count, deadline, waiting_for):
        while len(self._buffer) < count:
            self._fill(deadline, waiting_for)
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data.decode(errors="replace")

    def _reply(self, prefix, job, deadline):
        """The next line "<prefix> <job> ..." (other lines are stale and skipped)."""
        while True:
            words = self._line(deadline, f"{prefix} {job}").split()
            if len(words) >= 2 and words[0] == prefix and words[1] == str(job):
                return words[2:]

    def _send(self, verb, job, command=None):
        line = f"{verb} {job}"
        if command is not None:
            line += " " + base64.b64encode(command.encode()).decode()
        self._socket.sendall(line.encode() + b"\n")

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(deadline, "READY (guest boot)")
            if line.startswith("READY"):
                return line

    def _result(self, job, deadline, started):
        status, out_bytes, err_bytes = map(int, self._reply("RESULT", job, deadline))
        out = self._bytes(out_bytes, deadline, f"stdout of job {job}")
        err = self._bytes(err_bytes, deadline, f"stderr of job {job}")
        return Result(status, out, err, time.monotonic() - started)

    def run(self, command, timeout=60):
        """Runs a /bin/sh command line in the guest and waits for it."""
        job, self._next_id = self._next_id, self._next_id + 1
        started = time.monotonic()
        self._send("RUN", job, command)
        return self._result(job, started + timeout, started)

    def start(self, command, timeout=10):
        """Starts a command in the background; returns (job, guest pid)."""
        job, self._next_id = self._next_id, self._next_id + 1
        self._send("START", job, command)
        (pid,) = self._reply("STARTED", job, time.monotonic() + timeout)
        if pid == "0":
            raise Failure(f"guest {self.name}: could not start {command!r}")
        return job, int(pid)

    def wait(self, job, timeout=60):
        started = time.monotonic()
        self._send("WAIT", job)
        return self._result(job, started + timeout, started)


# ---- perfkvm-hostd --------------------------------------------------------------------------

class UnitCredentials:
    """User, groups and capabilities as perfkvm-hostd.service gives them, read from the unit."""

    def __init__(self, unit_path):
        settings = {}
        for line in Path(unit_path).read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                settings[key.strip()] = value.strip()
        self.user = settings["User"]
        self.groups = settings.get("SupplementaryGroups", "").split()
        self.capabilities = [c.lower().removeprefix("cap_")
                             for c in settings.get("AmbientCapabilities", "").split()]

    def setpriv(self):
        """setpriv's argv prefix: that user, its groups, only those capabilities."""
        caps = ",".join(f"+{c}" for c in self.capabilities)
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}",
                f"--groups={','.join(self.groups)}", f"--inh-caps=-all,{caps}",
                f"--ambient-caps=-all,{caps}", f"--bounding-set=-all,{caps}",
                "--no-new-privs", "--"]


class Hostd:
    def __init__(self, lab, binary, log_name, extra_args=(), credentials=None):
        self.lab, self.binary = lab, Path(binary)
        self.log_path = lab.dir / log_name
        # In the libvirtd's mount namespace: there are the pid files and channel sockets it
        # names (nsenter and setpriv exec, so the pid is hostd's).
        self.args = in_libvirt_namespace(
            lab.libvirt_state,
            (credentials.setpriv() if credentials else [])
            + [self.binary, "--connect",
               libvirt_uri(lab.libvirt_state, read_only=credentials is not None), "-v",
               *extra_args])
        self.process = None

    def start(self):
        if not self.binary.exists():
            raise Failure(f"{self.binary} is missing: build it first (ninja -C <build>)")
        log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log_file,
                                        stderr=subprocess.STDOUT)
        log_file.close()
        self.started_at = time.monotonic()
        self.lab.track_process(self.process.pid, "perfkvm-hostd")
        log(f"perfkvm-hostd started, pid {self.process.pid}: {' '.join(self.args)}")
        return self

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=10):
        """SIGTERM (SIGKILL after timeout); returns (exit status, seconds to exit)."""
        if self.process is None:
            return None, 0.0
        started = time.monotonic()
        terminate(self.lab, self.process, timeout)
        return self.process.returncode, time.monotonic() - started

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, pattern, timeout):
        """The first match of pattern in the log, waiting up to timeout seconds."""
        regex = re.compile(pattern)
        return wait_until(lambda: regex.search(self.log_text()), timeout, 0.05)

    def perf_fds(self):
        """hostd's open perf_event file descriptors: its counters."""
        count = 0
        fd_dir = Path(f"/proc/{self.pid}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else []:
            try:
                if os.readlink(fd) == "anon_inode:[perf_event]":
                    count += 1
            except OSError:
                continue
        return count


# ---- perf on the host -----------------------------------------------------------------------

class HostPerf:
    """`perf stat -e EVENTS --per-thread -t TIDS` from start() until stop(): an independent
    count of the same vCPU threads, by another program (perf as the oracle)."""

    def __init__(self, lab, tids, events=("task-clock",)):
        self.lab, self.tids, self.events = lab, tids, list(events)
        if not shutil.which("perf"):
            raise Failure("perf is not installed (Debian package linux-perf)")

    def start(self):
        self.process = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-e", ",".join(self.events), "--per-thread", "-t",
             ",".join(map(str, self.tids))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lab.track_process(self.process.pid, "perf")
        # perf opens its counters right after it starts; give it that moment.
        time.sleep(0.3)
        if self.process.poll() is not None:
            raise Failure(f"perf stat exited at once: {self.process.stderr.read()}")
        self.started_at = time.monotonic()

    def stop(self):
        """{event: {tid: value}} (task-clock in ms, as perf prints it), and the window's wall
        time (an upper bound of perf's)."""
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=10)
        self.lab.untrack_process(self.process.pid)
        window = time.monotonic() - self.started_at + 0.3
        counts = {event: {} for event in self.events}
        for line in err.splitlines():
            fields = line.split(",")
            # "CPU 1/TCG-1234,1990.12,msec,task-clock,..." / "CPU 1/TCG-1234,123456,,cycles:H,..."
            # On a hybrid CPU perf counts on each core type: "cpu_core/cycles:H/", summed.
            if len(fields) <= 3:
                continue
            event = re.sub(r"^\w+/(.*)/$", r"\1", fields[3])
            if event in counts:
                match = re.search(r"-(\d+)$", fields[0])
                if match and fields[1] not in ("", "<not counted>", "<not supported>"):
                    tid = int(match.group(1))
                    counts[event][tid] = counts[event].get(tid, 0.0) + float(fields[1])
        missing = [event for event, values in counts.items() if not values]
        if missing:
            raise Failure(f"no per-thread {', '.join(missing)} in perf's output:\n{err}")
        return counts, window


# ---- TLS files, HTTPS scrapes and Prometheus (the fleet export) ------------------------------

def make_tls_files(directory):
    """A CA, a server certificate for IP 127.0.0.1 and a client certificate, both signed by the
    CA, and a self-signed client certificate no server trusting that CA may accept. EC P-256,
    valid 2 days: a few openssl runs of ~30 ms. Returns {name: path}."""
    directory = Path(directory)
    directory.mkdir()
    files = {}
    # (name, subject, signed by the CA?, extensions)
    certificates = [
        ("ca", "perfkvm-e2e-ca", False,
         ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"]),
        ("server", "127.0.0.1", True,
         ["basicConstraints=critical,CA:FALSE", "subjectAltName=IP:127.0.0.1",
          "extendedKeyUsage=serverAuth"]),
        ("client", "perfkvm-e2e-prometheus", True,
         ["basicConstraints=critical,CA:FALSE", "extendedKeyUsage=clientAuth"]),
        ("foreign", "perfkvm-e2e-foreign-client", False,
         ["basicConstraints=critical,CA:FALSE", "extendedKeyUsage=clientAuth"]),
    ]
    for name, subject, signed, extensions in certificates:
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        argv = ["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                "-subj", f"/CN={subject}"]
        if signed:
            argv += ["-CA", files["ca_cert"], "-CAkey", files["ca_key"]]
        for extension in extensions:
            argv += ["-addext", extension]
        run(argv, timeout=30)
        files[f"{name}_cert"], files[f"{name}_key"] = cert, key
    return files


def https_get(port, path, ca_file, client=None, timeout=10):
    """GET https://127.0.0.1:PORT/PATH, the server's certificate checked against ca_file (and
    its IP SAN), presenting client = (cert, key) if given. Returns (status, headers, body)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if client:
        context.load_cert_chain(str(client[0]), str(client[1]))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def https_refused(port, path, ca_file, client=None):
    """The TLS handshake or the first read fails: returns that error. Raises Failure if the
    server answered instead (or neither happened in time)."""
    try:
        status, _, body = https_get(port, path, ca_file, client, timeout=10)
    except (ssl.SSLError, ConnectionError, http.client.BadStatusLine) as error:
        return error
    except OSError as error:  # a timeout: the server neither served nor refused
        raise Failure(f"https://127.0.0.1:{port}{path} with client certificate {client}: "
                      f"neither served nor refused: {error!r}")
    raise Failure(f"https://127.0.0.1:{port}{path} served a client with certificate {client}: "
                  f"HTTP {status}, {len(body)} bytes")


def free_tcp_port():
    """A port free on 127.0.0.1 now (the kernel's pick; taken again by the time it is used
    only in the unlikely race with another program)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Prometheus:
    """Debian's Prometheus on 127.0.0.1:<free port>, scraping one target every second over
    https with a client certificate; its TSDB in the lab directory. Recorded in the Lab like
    every other process: stopped by pid also on failure or when the driver is killed."""

    BINARY = Path("/usr/bin/prometheus")

    def __init__(self, lab, target, tls, scrape_interval_s=1):
        self.lab = lab
        self.dir = lab.dir / "prometheus"
        self.dir.mkdir()
        self.log_path = lab.dir / "prometheus.log"
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.dir / "prometheus.yml"
        quoted = {key: json.dumps(str(value)) for key, value in tls.items()}  # JSON is YAML
        self.config.write_text(
            f"global:\n"
            f"  scrape_interval: {scrape_interval_s}s\n"
            f"  scrape_timeout: {scrape_interval_s}s\n"
            f"scrape_configs:\n"
            f"  - job_name: perfkvm-hostd\n"
            f"    scheme: https\n"
            f"    tls_config:\n"
            f"      ca_file: {quoted['ca_cert']}\n"
            f"      cert_file: {quoted['client_cert']}\n"
            f"      key_file: {quoted['client_key']}\n"
            f"    static_configs:\n"
            f"      - targets: [{json.dumps(target)}]\n")
        self.process = None

    def start(self, timeout=30):
        if not self.BINARY.exists():
            raise Failure(f"{self.BINARY} is missing (Debian package prometheus; "
                          "scripts/install-deps.sh installs it)")
        log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(self.BINARY), f"--config.file={self.config}",
             f"--storage.tsdb.path={self.dir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        self.lab.track_process(self.process.pid, "prometheus")
        started = self.started_at = time.monotonic()
        ready = wait_until(lambda: self._ready() or self.process.poll() is not None, timeout, 0.1)
        if not ready or self.process.poll() is not None:
            exited = self.process.poll()
            state = "not ready" if exited is None else f"exited {exited}"
            raise Failure(f"prometheus {self.process.pid} {state} "
                          f"{time.monotonic() - started:.1f} s after its start:\n"
                          f"{self.log_text()[-3000:]}")
        log(f"prometheus {self.process.pid} ready on {self.url} "
            f"({time.monotonic() - started:.1f} s; config {self.config})")
        return self

    def _ready(self):
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:  # not listening yet, or 503 while its TSDB opens
            return False

    def api(self, path, **parameters):
        """GET /api/v1/PATH; returns its "data" (raises Failure on an error answer)."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(parameters)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError) as error:
            raise Failure(f"prometheus: GET {url}: {error}")
        if answer.get("status") != "success":
            raise Failure(f"prometheus: GET {url}: {answer}")
        return answer["data"]

    def query(self, expression, at):
        """The instant vector of expression evaluated at unix time `at`:
        [(labels, value), ...]."""
        data = self.api("query", query=expression, time=f"{at:.3f}")
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def samples(self, selector, seconds, at):
        """The raw samples of selector in (at - seconds, at]: [(unix time, value), ...]."""
        data = self.api("query", query=f"{selector}[{seconds}s]", time=f"{at:.3f}")
        return [(float(t), float(v)) for item in data["result"] for t, v in item["values"]]

    def targets(self):
        """What Prometheus says of its targets: 'URL health (last error)' each."""
        return "; ".join(f"{t['scrapeUrl']} {t['health']}"
                         + (f" ({t['lastError']})" if t["lastError"] else "")
                         for t in self.api("targets")["activeTargets"]) or "no targets"

    def stop(self, timeout=10):
        if self.process is not None:
            terminate(self.lab, self.process, timeout)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def print_block(title, text, limit=200):
    lines = text.rstrip("\n").splitlines()
    print(f"----- {title} ({len(lines)} lines{', last ' + str(limit) if len(lines) > limit else ''})")
    for line in lines[-limit:]:
        print(f"  {line}")
    print("-----", flush=True)


@contextlib.contextmanager
def exclusive_lock(path="/run/lock/perfkvm-e2e.lock"):
    """One e2e run (or detached cleanup) at a time on a machine: they share libvirtd."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another e2e run holds {path}: waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def have_root():
    if os.geteuid() != 0:
        print("the e2e suite needs root (libvirt's system instance, perf on QEMU's threads)")
        sys.exit(1)
