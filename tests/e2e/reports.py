"""perfkvm's output as the guest user sees it (human, CSV, JSON), parsed back into numbers."""

import json
import re
from dataclasses import dataclass, field
from typing import Optional

from lab import Failure

NOT_COUNTED = ("<not supported>", "<not counted>")


@dataclass
class Line:
    event: str
    value: Optional[float]        # None when not counted / not supported
    text: str                     # the value as printed ("<not supported>", "1,990.12")
    vcpu: Optional[int] = None
    time: Optional[float] = None  # interval lines: seconds since counting started
    metric: str = ""              # human: what follows '#' ("1.23  insn per cycle")
    percent: Optional[float] = None  # the share of time counted, where under 100 %: "(62.50%)"
    noise: Optional[float] = None    # -r N: the spread over the runs, "( +-  1.70% )" / "variance"


@dataclass
class Output:
    lines: list = field(default_factory=list)   # report lines
    intervals: list = field(default_factory=list)  # interval lines, in order
    elapsed: Optional[float] = None               # "N seconds time elapsed"
    elapsed_error: Optional[float] = None         # -r N: "MEAN +- ERROR seconds time elapsed"
    header: str = ""
    notes: list = field(default_factory=list)     # "# ..." lines after the report

    def value(self, event, vcpu=None):
        """The report's value of event (for one vCPU with -A); Failure if absent/not counted."""
        for line in self.lines:
            if line.event == event and line.vcpu == vcpu:
                if line.value is None:
                    raise Failure(f"{event}{'' if vcpu is None else f' vCPU{vcpu}'} is "
                                  f"{line.text}, expected a count")
                return line.value
        raise Failure(f"no {event}{'' if vcpu is None else f' vCPU{vcpu}'} line in the report")

    def line(self, event, vcpu=None):
        """The report line of event (for one vCPU with -A); Failure if absent."""
        for line in self.lines:
            if line.event == event and line.vcpu == vcpu:
                return line
        raise Failure(f"no {event}{'' if vcpu is None else f' vCPU{vcpu}'} line in the report")

    def vcpus(self):
        return sorted({line.vcpu for line in self.lines if line.vcpu is not None})

    def interval_times(self):
        times = []
        for line in self.intervals:
            if not times or times[-1] != line.time:
                times.append(line.time)
        return times


_HUMAN = re.compile(
    r"^\s*(?:(?P<time>\d+\.\d{9})\s+)?(?:vCPU(?P<vcpu>\d+)\s+)?"
    r"(?P<count><not supported>|<not counted>|[\d,]+(?:\.\d+)?)\s+(?:msec\s+)?"
    r"(?P<event>[A-Za-z][\w.:/-]*)")


def _number(text):
    return None if text in NOT_COUNTED else float(text.replace(",", ""))


def parse_human(text):
    """perf stat's human layout: interval lines, the header, counter lines, elapsed, notes."""
    out = Output()
    for raw in text.splitlines():
        if "Performance counter stats for" in raw:
            out.header = raw.strip()
            continue
        elapsed = re.match(r"^\s*(\d+\.\d+)(?: \+- (\d+\.\d+))? seconds time elapsed", raw)
        if elapsed:
            out.elapsed = float(elapsed.group(1))
            out.elapsed_error = float(elapsed.group(2)) if elapsed.group(2) else None
            continue
        if raw.startswith("# "):
            out.notes.append(raw)
            continue
        match = _HUMAN.match(raw)
        if not match or raw.lstrip().startswith("#"):
            continue
        line = Line(match["event"], _number(match["count"]), match["count"],
                    int(match["vcpu"]) if match["vcpu"] else None,
                    float(match["time"]) if match["time"] else None)
        rest = raw[match.end():]
        metric = re.search(r"#\s*(.*?)\s*(?:\( \+-|\(\d+\.\d+%\)|\(ended\)|$)", rest)
        line.metric = metric.group(1) if metric else ""
        percent = re.search(r"\((\d+\.\d+)%\)", rest)
        line.percent = float(percent.group(1)) if percent else None
        noise = re.search(r"\( \+-\s*(\d+\.\d+)% \)", rest)
        line.noise = float(noise.group(1)) if noise else None
        (out.intervals if line.time is not None else out.lines).append(line)
    return out


def parse_json(text):
    """-j: one JSON object per line (perf's keys; "vcpu" where perf says "cpu")."""
    out = Output()
    for raw in text.splitlines():
        if not raw.startswith("{"):
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as error:
            raise Failure(f"perfkvm -j printed a line that is not JSON ({error}): {raw}")
        value = obj["counter-value"]
        line = Line(obj["event"], _number(value), value,
                    int(obj["vcpu"]) if "vcpu" in obj else None, obj.get("interval"))
        if obj.get("metric-unit"):
            line.metric = f"{obj['metric-value']} {obj['metric-unit']}"
        if obj.get("pcnt-running", 100) < 100:
            line.percent = float(obj["pcnt-running"])
        line.noise = obj.get("variance")
        (out.intervals if line.time is not None else out.lines).append(line)
    return out


def parse_csv(text, separator=","):
    """-x SEP: [time,][vCPUn,]value,unit,event,runtime,percent,metric,metric-unit."""
    out = Output()
    for raw in text.splitlines():
        fields = raw.split(separator)
        if len(fields) < 5 or raw.startswith("#"):
            continue
        time = None
        if re.fullmatch(r"\s*\d+\.\d{9}", fields[0]):
            time, fields = float(fields[0]), fields[1:]
        vcpu = None
        if fields and re.fullmatch(r"vCPU\d+", fields[0]):
            vcpu, fields = int(fields[0][4:]), fields[1:]
        if len(fields) < 3:
            continue
        line = Line(fields[2], _number(fields[0]), fields[0], vcpu, time)
        (out.intervals if time is not None else out.lines).append(line)
    return out
