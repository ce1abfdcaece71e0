#!/usr/bin/env python3
"""What the real `perf stat report` prints for a report fixture (tests/data/report/<case>/).

It writes a synthetic `perf stat record` file holding the fixture's counts and runs
`perf stat [-x SEP|-j] report [-A]` on it, in the C locale or an en_US.UTF-8 locale built
privately (LOCPATH, nothing installed). The text returned is perf's own; oracle_test.py compares it with the
expected.* files through an explicit allow-list. The expected files are derived from perf's
source and proven by that comparison; they are never copied from perfkvm's output.

  as a tool:    perf-oracle.py CASE_DIR human|csv|json [C|en_US.UTF-8]   prints perf's output
  as a library: with Oracle() as o: o.render(CASE_DIR, 'csv', locale='C')

Needs perf 6.1 (Debian 12 linux-perf), localedef with the en_US source, and the right to run
`perf stat record` (root, or perf_event_paranoid <= 2); unavailable() says what is missing.

Raw counts are recovered from the protocol's scaled values (raw = value * run / ena) and perf
scales them again. The feature sections (topology etc.) come from a real `perf stat record`.
Event names go into the file as perfkvm spells them (`cpu-cycles:G`): perf prints the name it
was given, so that is what `perf stat -e cpu-cycles:G` shows too."""
import json, os, re, shutil, struct, subprocess, sys, tempfile

PERF_VERSION = re.compile(r'perf version 6\.1\.')
LOCALE_SOURCE = '/usr/share/i18n/locales/en_US'
# perf stat report needs some argv for its header; a fixture without a command gets this one.
NO_COMMAND = '<no command>'
# The locales perf runs in: en_US.UTF-8 groups the human counts with ',', C groups nothing.
LOCALES = ('en_US.UTF-8', 'C')
DEFAULT_LOCALE = 'en_US.UTF-8'

HW = {'cpu-cycles': 0, 'instructions': 1, 'cache-references': 2, 'cache-misses': 3,
      'branches': 4, 'branch-misses': 5, 'bus-cycles': 6, 'stalled-cycles-frontend': 7,
      'stalled-cycles-backend': 8, 'ref-cycles': 9}
# PERF_TYPE_HW_CACHE: cache | op << 8 | result << 16 (perf_event_open(2)).
_CACHES = {'L1-dcache': 0, 'L1-icache': 1, 'LLC': 2, 'dTLB': 3, 'iTLB': 4, 'branch': 5}
_OPS = {'loads': 0, 'load-misses': 1 << 16, 'stores': 1 << 8, 'store-misses': 1 << 8 | 1 << 16,
        'prefetches': 2 << 8, 'prefetch-misses': 2 << 8 | 1 << 16}
HW_CACHE = {'%s-%s' % (cache, op): cache_id | bits
            for cache, cache_id in _CACHES.items() for op, bits in _OPS.items()}
SW = {'cpu-clock': 0, 'task-clock': 1, 'page-faults': 2, 'context-switches': 3,
      'cpu-migrations': 4, 'minor-faults': 5, 'major-faults': 6, 'alignment-faults': 7,
      'emulation-faults': 8, 'dummy': 9}


class OracleError(Exception):
    pass


def unavailable():
    """Why the oracle cannot run on this machine, or None."""
    for tool in ('perf', 'localedef'):
        if shutil.which(tool) is None:
            return '%s is not installed (Debian 12: apt-get install %s)' % (
                tool, 'linux-perf' if tool == 'perf' else 'libc-bin')
    version = subprocess.run(['perf', '--version'], capture_output=True, text=True).stdout.strip()
    if not PERF_VERSION.match(version):
        # The expected files follow perf 6.1's stat-display.c; other releases print differently.
        return "'%s' is not perf 6.1, the release the expected files follow" % version
    if not os.path.exists(LOCALE_SOURCE):
        return '%s is missing, so localedef cannot build en_US.UTF-8 (apt-get install locales)' % (
            LOCALE_SOURCE)
    if os.geteuid() != 0:
        try:
            paranoid = int(open('/proc/sys/kernel/perf_event_paranoid').read())
        except (OSError, ValueError):
            paranoid = None
        if paranoid is None or paranoid > 2:
            return ('not root and kernel.perf_event_paranoid is %s: `perf stat record` cannot '
                    'open task-clock for the template file' % paranoid)
    return None


def pstr(s, align=64):
    b = s.encode() + b'\0'
    n = (len(b) + align - 1) // align * align
    return struct.pack('<I', n) + b.ljust(n, b'\0')


def ev(type_, payload):
    return struct.pack('<IHH', type_, 0, 8 + len(payload)) + payload


def raw_of(cell):
    v, ena, run = cell
    if run == 0: return (0, ena, run)
    if run >= ena: return (v, ena, run)
    return (round(v * run / ena), ena, run)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise OracleError('%s: %s' % (path, e))


class Oracle:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix='perf-oracle-')
        self.template = os.path.join(self.work, 'template.data')
        self.locale = os.path.join(self.work, 'locale')
        self.data = os.path.join(self.work, 'oracle.data')
        # A real record file supplies the feature sections perf expects (topology, cpu maps).
        self._run(['perf', 'stat', 'record', '-o', self.template, '-e', 'task-clock', 'true'])
        os.makedirs(self.locale)
        # Built once per Oracle: localedef takes over a second, perf stat report milliseconds.
        self._run(['localedef', '-i', 'en_US', '-f', 'UTF-8',
                   os.path.join(self.locale, 'en_US.UTF-8')])
        # perf labels -A rows only with CPUs this host has; more vCPUs are rendered one by one.
        self.host_cpus = os.sysconf('SC_NPROCESSORS_CONF')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def _run(self, cmd, env=None):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise OracleError('`%s` failed with status %d: %s' % (
                ' '.join(cmd), res.returncode, (res.stderr or res.stdout).strip()))
        return res

    def build(self, columns, rounds, cpus, interval_ms, argv):
        """rounds: list of (type, time, cells) where cells[cpu_idx][col] = (raw, ena, run) or None."""
        with open(self.template, 'rb') as f:
            t = f.read()
        attr_size_file = struct.unpack_from('<Q', t, 16)[0]
        tattrs_off = struct.unpack_from('<Q', t, 24)[0]
        tattr = bytearray(t[tattrs_off:tattrs_off + 128])
        feat_bits = struct.unpack_from('<4Q', t, 72)
        bits = [i for i in range(256) if feat_bits[i // 64] >> (i % 64) & 1]
        toff = sum(struct.unpack_from('<QQ', t, 40))
        feats = {b: t[o:o + s] for b, (o, s) in
                 ((b, struct.unpack_from('<QQ', t, toff + 16 * i)) for i, b in enumerate(bits))}

        attrs, names, ids = [], [], []
        for i, c in enumerate(columns):
            a = bytearray(tattr)
            ev_name = c['event']
            if ev_name in HW: typ, cfg = 0, HW[ev_name]
            elif ev_name in SW: typ, cfg = 1, SW[ev_name]
            elif ev_name in HW_CACHE: typ, cfg = 3, HW_CACHE[ev_name]
            else: raise OracleError('event %r has no perf type/config in perf-oracle.py' % ev_name)
            flags = 1 | 2 | (1 << 12)
            name = ev_name
            if c['scope'] == 'guest': flags |= 1 << 19; name += ':G'
            elif c['scope'] == 'host': flags |= 1 << 20; name += ':H'
            else: flags |= 1 << 20
            struct.pack_into('<II', a, 0, typ, 128)
            struct.pack_into('<Q', a, 8, cfg)
            struct.pack_into('<Q', a, 40, flags)
            attrs.append(bytes(a)); names.append(name); ids.append(100 + i)

        # features: CMDLINE (11) and EVENT_DESC (12) rewritten
        feats[11] = struct.pack('<I', len(argv)) + b''.join(pstr(a) for a in argv)
        desc = struct.pack('<II', len(attrs), 128)
        for a, n, i in zip(attrs, names, ids):
            desc += a + struct.pack('<I', 1) + pstr(n) + struct.pack('<Q', i)
        feats[12] = desc

        data = b''
        for c, i in zip(columns, ids):
            if c['event'] in ('task-clock', 'cpu-clock'):
                data += ev(78, struct.pack('<QQ', 0, i) + b'msec'.ljust(8, b'\0'))
                data += ev(78, struct.pack('<QQd', 1, i, 1e-6))
        data += ev(73, struct.pack('<Q', 1) + struct.pack('<Q16s', 4242, b'vcpu'))
        cm = struct.pack('<HH', 0, len(cpus)) + b''.join(struct.pack('<h', x) for x in cpus)
        cm = cm.ljust((len(cm) + 7) // 8 * 8, b'\0')
        data += ev(74, cm)
        data += ev(75, struct.pack('<Q', 3) + struct.pack('<QQQQQQ', 0, 1, 2, 1, 1, interval_ms))
        for rtype, time, cells in rounds:
            for ci, row in enumerate(cells):
                for k, cell in enumerate(row):
                    if cell is None: continue
                    raw, ena, run = cell
                    # perf looks the CPU number (not its index) up in the event's cpu map.
                    data += ev(76, struct.pack('<QiiQQQ', ids[k], cpus[ci], 0, raw, ena, run))
            data += ev(77, struct.pack('<QQ', rtype, time))

        # layout: header | ids | attrs | data | feature index | feature bodies
        hdr_size = 104
        ids_off = hdr_size
        attrs_off = ids_off + 8 * len(ids)
        data_off = attrs_off + attr_size_file * len(attrs)
        body = b''.join(struct.pack('<Q', i) for i in ids)
        for k, a in enumerate(attrs):
            body += a + struct.pack('<QQ', ids_off + 8 * k, 8)
        index_off = data_off + len(data)
        fb = b''; index = b''
        pos = index_off + 16 * len(bits)
        for b in bits:
            index += struct.pack('<QQ', pos + len(fb), len(feats[b])); fb += feats[b]
        header = struct.pack('<8sQQ', b'PERFILE2', 104, attr_size_file)
        header += struct.pack('<QQ', attrs_off, attr_size_file * len(attrs))
        header += struct.pack('<QQ', data_off, len(data)) + struct.pack('<QQ', 0, 0)
        header += struct.pack('<4Q', *feat_bits)
        with open(self.data, 'wb') as f:
            f.write(header + body + data + index + fb)

    def run_perf(self, fmt, opts, per_vcpu, locale):
        flag = {'human': [], 'csv': ['-x', opts.get('separator', ',')], 'json': ['-j']}[fmt]
        cmd = ['perf', 'stat'] + flag + ['report', '-i', self.data] + (['-A'] if per_vcpu else [])
        if locale not in LOCALES:
            raise OracleError('locale %r: expected one of %s' % (locale, ', '.join(LOCALES)))
        env = dict(os.environ, LC_ALL=locale, LOCPATH=self.locale)
        res = self._run(cmd, env)
        # Human output goes to stderr; anything perf warns about there is part of its answer.
        return res.stdout + res.stderr

    def render(self, case, fmt, locale=DEFAULT_LOCALE):
        """perf's output for fixture directory `case` in format human, csv or json, with
        LC_ALL=locale."""
        if fmt not in ('human', 'csv', 'json'):
            raise OracleError('format %r: expected human, csv or json' % fmt)
        opts = load(os.path.join(case, 'options.json'))
        argv = opts['command'].split() if opts.get('command') else [NO_COMMAND]
        per_vcpu = opts.get('per_vcpu', False)

        def usable(c, cell): return raw_of(cell) if (c['status'] == 'counted' and cell) else None

        if os.path.exists(os.path.join(case, 'report.json')):
            r = load(os.path.join(case, 'report.json'))
            cols, interval_ms = r['columns'], 0
            rows = lambda counts: [[usable(c, x) for c, x in zip(cols, counts)]]
            totals = [(1, r['duration_ns'], rows(r['totals']))]
            vcpus = [v['vcpu'] for v in r.get('vcpus', [])]
            per = {v['vcpu']: [(1, r['duration_ns'], rows(v['counts']))] for v in r.get('vcpus', [])}
        else:
            st = load(os.path.join(case, 'started.json'))
            cols, interval_ms = st['columns'], st['interval_ms']
            samples = sorted((load(os.path.join(case, f)) for f in os.listdir(case)
                              if f.startswith('sample-')), key=lambda s: s['seq'])
            if not samples: raise OracleError('%s: no report.json nor sample-*.json' % case)
            rows = lambda counts: [[usable(c, x) for c, x in zip(cols, counts)]]
            totals = [(0, s['elapsed_ns'], rows(s['totals'])) for s in samples]
            vcpus = [v['vcpu'] for v in samples[0].get('vcpus', [])]
            # A vCPU missing from a later sample has no reading there.
            per = {n: [(0, s['elapsed_ns'], rows(next((v['counts'] for v in s['vcpus']
                                                        if v['vcpu'] == n), [None] * len(cols))))
                       for s in samples] for n in vcpus}

        if not per_vcpu:
            self.build(cols, totals, [-1], interval_ms, argv)
            return self.run_perf(fmt, opts, False, locale)
        if not vcpus: raise OracleError('%s: per_vcpu is set but there are no vCPU rows' % case)
        if max(vcpus) < self.host_cpus:
            rounds = [(rt, time, [per[n][k][2][0] for n in vcpus])
                      for k, (rt, time, _) in enumerate(per[vcpus[0]])]
            self.build(cols, rounds, vcpus, interval_ms, argv)
            return self.run_perf(fmt, opts, True, locale)
        return self.render_split(fmt, opts, cols, per, vcpus, interval_ms, argv, locale)

    def render_split(self, fmt, opts, cols, per, vcpus, interval_ms, argv, locale):
        """One perf run per vCPU as CPU0, rows interleaved back in perf's event-major order and
        relabelled with the vCPU's number in perf's own label format (CPU%-7d, CPU%d, "cpu")."""
        def read(n, k): return any(rows[0][k] is not None for _, _, rows in per[n])
        outputs = []
        for n in vcpus:
            rounds = per[n]
            # In one multi-CPU file perf marks an event supported once any CPU has a reading and
            # prints `<not counted>` for a CPU without one. Alone, such a vCPU would make perf say
            # `<not supported>`, so give it the all-zero reading perf would hold for it.
            missing = [k for k in range(len(cols))
                       if not read(n, k) and any(read(m, k) for m in vcpus)]
            if missing:
                rt, time, rows = rounds[0]
                cells = [(0, 0, 0) if k in missing else cell for k, cell in enumerate(rows[0])]
                rounds = [(rt, time, [cells])] + rounds[1:]
            self.build(cols, rounds, [0], interval_ms, argv)
            outputs.append((n, self.run_perf(fmt, opts, True, locale).split('\n')))

        sep = opts.get('separator', ',') if fmt == 'csv' else ' '
        label = {'human': (r'^(\s*\d+\.\d{9} )?CPU0      ( )', lambda n: 'CPU%-7d' % n),
                 'csv': (r'^(\s*\d+\.\d{9}%s)?CPU0(%s)' % (re.escape(sep), re.escape(sep)),
                         lambda n: 'CPU%d' % n),
                 'json': (r'^(\{"interval" : [0-9.]+, |\{)"cpu" : "0"(, )',
                          lambda n: '"cpu" : "%d"' % n)}[fmt]
        pattern = re.compile(label[0])

        def body(lines): return [i for i, l in enumerate(lines) if pattern.match(l)]
        first = outputs[0][1]
        idx = body(first)
        if not idx or idx != list(range(idx[0], idx[-1] + 1)):
            raise OracleError('perf printed no contiguous block of per-CPU rows:\n' +
                              '\n'.join(first))
        for n, lines in outputs:
            if len(body(lines)) != len(idx):
                raise OracleError('perf printed %d rows for vCPU %d but %d for vCPU %d' % (
                    len(body(lines)), n, len(idx), outputs[0][0]))
        stitched = []
        for k in range(len(idx)):
            for n, lines in outputs:
                line = lines[body(lines)[k]]
                stitched.append(pattern.sub(lambda m: (m.group(1) or '') + label[1](n) + m.group(2),
                                            line, count=1))
        return '\n'.join(first[:idx[0]] + stitched + first[idx[-1] + 1:])


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[2] not in ('human', 'csv', 'json') or (
            len(sys.argv) == 4 and sys.argv[3] not in LOCALES):
        sys.exit('usage: perf-oracle.py CASE_DIR human|csv|json [%s]' % '|'.join(LOCALES))
    why = unavailable()
    if why: sys.exit('perf-oracle.py: ' + why)
    try:
        with Oracle() as oracle:
            locale = sys.argv[3] if len(sys.argv) == 4 else DEFAULT_LOCALE
            sys.stdout.write(oracle.render(sys.argv[1], sys.argv[2], locale))
    except OracleError as e:
        sys.exit('perf-oracle.py: %s' % e)


if __name__ == '__main__':
    main()
