#!/usr/bin/env python3
"""Writes fuzz/corpus/<target>/, the committed seeds of every fuzz target, from the test
fixtures (rerun when they change; each target's directory is rewritten whole):

  frame_message  each valid message fixture (tests/data/messages/valid) as a framed stream,
                 alone and after garbage and a truncated frame; byte 0 is the fuzzer's config
                 byte (chunk size / maximum payload)
  domain_xml     the domain and status XML fixtures (tests/data/domains, the libvirt test
                 driver's domains, tests/data/libvirt, the threads fixtures' status XML), the
                 device snippets of xml/ alone and inside a domain
  proc_text      the /proc files of tests/data/threads (cmdline, comm, pid_max), its pid
                 files, and the task stat fixtures of tests/data/counters/stat
  policy_xml     the policy fixtures (tests/data/policy), xml/perfkvm-policy.xml, policies
                 inside a domain's <metadata>, and --events lists
  http_request   requests as Prometheus, curl and odd clients send them; byte 0 is the
                 fuzzer's config byte (how many bytes each read returns)

Seeds with the same bytes are written once."""
import hashlib
import pathlib
import re
import shutil
import struct

root = pathlib.Path(__file__).resolve().parent.parent
data = root / "tests" / "data"
corpus = root / "fuzz" / "corpus"


class Target:
    def __init__(self, name):
        self.dir = corpus / name
        self.seen = set()
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)

    def add(self, name, content):
        if isinstance(content, str):
            content = content.encode()
        digest = hashlib.sha1(content).digest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        assert not (self.dir / name).exists(), name
        (self.dir / name).write_bytes(content)


def frame(payload: bytes) -> bytes:
    return b"\xffPK\x01" + struct.pack(">I", len(payload)) + payload


def frame_message():
    target = Target("frame_message")
    for i, path in enumerate(sorted((data / "messages/valid").glob("*.json"))):
        payload = path.read_bytes().strip()
        config = bytes([i % 16])
        target.add(f"{path.stem}.bin", config + frame(payload))
        stale = frame(payload)[: 8 + len(payload) // 2]
        target.add(f"{path.stem}-after-garbage.bin",
                   config + b"console noise\xffP" + stale + frame(payload))


DOMAIN_HEAD = ("<domain type='kvm' id='3'>\n  <name>web1</name>\n"
               "  <uuid>6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f04</uuid>\n"
               "  <vcpu current='1'>2</vcpu>\n")


def in_domain(devices="", metadata=""):
    return (DOMAIN_HEAD + (f"  <metadata>\n{metadata}\n  </metadata>\n" if metadata else "")
            + f"  <devices>\n{devices}\n  </devices>\n</domain>\n")


def without_comments(text):
    return re.sub(r"<!--.*?-->\s*", "", text, flags=re.S)


def domain_xml():
    target = Target("domain_xml")
    for path in sorted((data / "domains").glob("*.xml")):
        target.add(f"domains-{path.name}", path.read_bytes())
    for path in sorted((data / "test-driver").glob("*.xml")):
        text = path.read_text()
        target.add(f"test-driver-{path.name}", text)
        for match in re.finditer(r"<domain[ >].*?</domain>", text, flags=re.S):
            name = re.search(r"<name>(.*?)</name>", match.group(0)).group(1)
            target.add(f"test-driver-{path.stem}-{name}.xml", match.group(0) + "\n")
    for path in sorted((data / "libvirt").glob("*.xml")):
        target.add(f"libvirt-{path.name}", path.read_bytes())
    for path in sorted((data / "threads").glob("*/run/*.xml")):
        target.add(f"threads-{path.parts[-3]}-{path.name}", path.read_bytes())
    for path in sorted((root / "xml").glob("perfkvm-*.xml")):
        if path.name == "perfkvm-policy.xml":
            continue
        target.add(f"xml-{path.name}", path.read_bytes())
        target.add(f"xml-in-domain-{path.name}", in_domain(devices=without_comments(path.read_text())))


def proc_text():
    target = Target("proc_text")
    threads = data / "threads"
    for path in sorted(threads.glob("*/proc/*/cmdline")):
        target.add(f"cmdline-{path.parts[-4]}-{path.parts[-2]}", path.read_bytes())
    for path in sorted(threads.glob("*/proc/*/task/*/comm")):
        target.add(f"comm-{path.parts[-6]}-{path.parts[-2]}", path.read_bytes())
    for path in sorted(threads.glob("*/proc/sys/kernel/*")):
        target.add(f"{path.name}-{path.parts[-5]}", path.read_bytes())
    for path in sorted(threads.glob("*/run/*.pid")):
        target.add(f"pid-file-{path.parts[-3]}-{path.name}", path.read_bytes())
    for path in sorted((data / "counters" / "stat").glob("*.stat")):
        target.add(f"stat-{path.name}", path.read_bytes())


EVENT_LISTS = [
    "software", "hardware", "software,instructions", "cycles, instructions ,cache-misses",
    "cpu-cycles,cycles", "software,software", "instructions,", ",", "", "faults,cs,migrations",
    "branch-instructions,branch-misses,bus-cycles,ref-cycles",
]


def policy_xml():
    target = Target("policy_xml")
    qualified = []
    for path in sorted((data / "policy").glob("*.xml")):
        text = path.read_text()
        target.add(f"policy-{path.name}", text)
        if "xmlns:perfkvm=" in text and "<!DOCTYPE" not in text:
            qualified.append((path.stem, text.strip()))
    example = (root / "xml" / "perfkvm-policy.xml").read_text()
    target.add("xml-perfkvm-policy.xml", example)
    element = re.search(r"<perfkvm:policy.*</perfkvm:policy>", example, flags=re.S).group(0)
    target.add("xml-perfkvm-policy-element.xml", element + "\n")
    qualified.append(("xml-perfkvm-policy", element))
    for stem, text in qualified:
        target.add(f"in-domain-{stem}.xml", in_domain(metadata=text))
    target.add("in-domain-foreign-metadata.xml",
               in_domain(metadata="<app:x xmlns:app='https://example.com/app/1'/>"))
    target.add("in-domain-unqualified.xml", in_domain(metadata="<policy max-sessions='2'/>"))
    for i, events in enumerate(EVENT_LISTS):
        target.add(f"events-{i:02d}.txt", events)


PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def request(method, target, headers="", version="1.1"):
    return f"{method} {target} HTTP/{version}\r\nHost: perfkvm-test\r\n{headers}\r\n"


HTTP_REQUESTS = {
    "prometheus": request("GET", "/metrics",
                          f"Accept: {PROMETHEUS_ACCEPT}\r\nAccept-Encoding: gzip\r\n"
                          "User-Agent: Prometheus/2.45.0\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n"),
    "curl": request("GET", "/metrics", "User-Agent: curl/7.88.1\r\nAccept: */*\r\n"),
    "index": request("GET", "/", "Accept: text/html\r\n"),
    "head": request("HEAD", "/metrics", "Accept-Encoding: gzip;q=1.0, identity; q=0.5, *;q=0\r\n"),
    "query": request("GET", "/metrics?name[]=up", "Accept: text/plain;q=0.5, text/*;q=0.2\r\n"),
    "post": request("POST", "/metrics", "Content-Length: 0\r\n"),
    "not-found": request("GET", "/nothing"),
    "http10": "GET /metrics HTTP/1.0\r\n\r\n",
    "http10-keep-alive": "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    "close": request("GET", "/metrics", "Connection: close\r\n") + request("GET", "/"),
    "pipelined": request("GET", "/metrics") + request("GET", "/nothing") + request("HEAD", "/"),
    "repeated-headers": request("GET", "/metrics",
                                "Accept: application/openmetrics-text\r\nAccept: text/plain;q=1\r\n"
                                "Accept-Encoding: br\r\nAccept-Encoding: x-gzip;q=0.001\r\n"),
    "openmetrics-quoted": request("GET", "/metrics",
                                  'Accept: Application/OpenMetrics-Text; Version="1.0.0"; Q=1\r\n'),
    "body-refused": request("GET", "/metrics", "Content-Length: 5\r\n") + "hello",
    "chunked-refused": request("GET", "/metrics", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n",
    "bad-version": "GET /metrics HTTP/9\r\n\r\n",
    "bad-header": "GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
    "bad-length": "GET /metrics HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    "two-lengths": "GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "space-in-target": "GET /me trics HTTP/1.1\r\n\r\n",
    "long-target": "GET /" + "m" * 9000 + " HTTP/1.1\r\n\r\n",
    "long-header": request("GET", "/metrics", "X-Big: " + "a" * 9000 + "\r\n"),
    "lf-only": "GET /metrics HTTP/1.1\nHost: x\n\n",
    "truncated": "GET /metrics HTTP/1.1\r\nHost: perf",
    "obs-fold": "GET /metrics HTTP/1.1\r\nAccept: text/plain,\r\n application/openmetrics-text\r\n\r\n",
}


def http_request():
    target = Target("http_request")
    for i, (name, text) in enumerate(HTTP_REQUESTS.items()):
        # Most seeds read all at once (65536 per read), every fourth one byte by byte.
        config = bytes([0 if i % 4 == 3 else 7])
        target.add(f"{name}.http", config + text.encode())


frame_message()
domain_xml()
proc_text()
policy_xml()
http_request()
for directory in sorted(corpus.iterdir()):
    print(f"{directory.relative_to(root)}: {sum(1 for _ in directory.iterdir())} seeds")
