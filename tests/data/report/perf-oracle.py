#!/usr/bin/env python3
"""Show what the real perf prints for a fixture: writes a synthetic `perf stat record` file
with the fixture's counts and runs `perf stat [-x SEP|-j] report [-A]` on it, in an en_US.UTF-8
locale built privately (LOCPATH, nothing installed). Developer tool, not run by the tests; see
README.md for the differences to expect.

usage: perf-oracle.py CASE_DIR human|csv|json      (needs perf 6.1 and localedef; as root)

Raw counts are recovered from the protocol's scaled values (raw = value * run / ena) and perf
scales them again. The feature sections (topology etc.) come from a real `perf stat record`."""
import atexit, json, os, re, shutil, struct, subprocess, sys, tempfile

WORK = tempfile.mkdtemp(prefix='perf-oracle-')
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
TEMPLATE = os.path.join(WORK, 'template.data')
LOCALE = os.path.join(WORK, 'locale')
DATA = os.path.join(WORK, 'oracle.data')

def prepare():
    subprocess.run(['perf', 'stat', 'record', '-o', TEMPLATE, '-e', 'task-clock', 'true'],
                   check=True, capture_output=True)
    os.makedirs(LOCALE)
    subprocess.run(['localedef', '-i', 'en_US', '-f', 'UTF-8', os.path.join(LOCALE, 'en_US.UTF-8')],
                   check=True, capture_output=True)
HW = {'cpu-cycles': 0, 'instructions': 1, 'cache-references': 2, 'cache-misses': 3,
      'branches': 4, 'branch-misses': 5, 'bus-cycles': 6, 'ref-cycles': 9}
SW = {'cpu-clock': 0, 'task-clock': 1, 'page-faults': 2, 'context-switches': 3,
      'cpu-migrations': 4, 'minor-faults': 5, 'major-faults': 6, 'alignment-faults': 7,
      'emulation-faults': 8, 'dummy': 9}

def pstr(s, align=64):
    b = s.encode() + b'\0'
    n = (len(b) + align - 1) // align * align
    return struct.pack('<I', n) + b.ljust(n, b'\0')

def ev(type_, payload):
    return struct.pack('<IHH', type_, 0, 8 + len(payload)) + payload

def build(path, columns, rounds, cpus, interval_ms, argv):
    """rounds: list of (type, time, cells) where cells[cpu_idx][col] = (raw, ena, run) or None."""
    t = open(TEMPLATE, 'rb').read()
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
        typ, cfg = (0, HW[ev_name]) if ev_name in HW else (1, SW[ev_name])
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
                data += ev(76, struct.pack('<QiiQQQ', ids[k], ci if len(cpus) > 1 or cpus[0] >= 0 else -1, 0, raw, ena, run))
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
    open(path, 'wb').write(header + body + data + index + fb)

def raw_of(cell):
    v, ena, run = cell
    if run == 0: return (0, ena, run)
    if run >= ena: return (v, ena, run)
    return (round(v * run / ena), ena, run)

def run_perf(fmt, opts, per_vcpu):
    flag = {'human': [], 'csv': ['-x', opts.get('separator', ',')], 'json': ['-j']}[fmt]
    cmd = ['perf', 'stat'] + flag + ['report', '-i', DATA] + (['-A'] if per_vcpu else [])
    env = dict(os.environ, LC_ALL='en_US.UTF-8', LOCPATH=LOCALE)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return res.stdout + res.stderr

def relabel(line, fmt, vcpu, status):
    """perf's CPU label -> perfkvm's vCPU label (our documented deviation)."""
    if fmt == 'human':
        line = re.sub(r'^(\s*[0-9.]+ )?CPU(\d+) ', lambda m: (m.group(1) or '') + 'vCPU%d' % vcpu, line)
        if status == 'ended': line += '  (ended)'
    elif fmt == 'csv':
        line = re.sub(r'^(\s*[0-9.]+[^0-9.])?CPU\d+', lambda m: (m.group(1) or '') + 'vCPU%d' % vcpu, line)
    else:
        line = re.sub(r'"cpu" : "\d+", ', '"vcpu" : "%d", "vcpu-status" : "%s", ' % (vcpu, status), line)
    return line

def main():
    case, fmt = sys.argv[1], sys.argv[2]
    opts = json.load(open(os.path.join(case, 'options.json')))
    argv = opts.get('command', 'x').split()
    per_vcpu = opts.get('per_vcpu', False)
    prepare()
    out = DATA
    def usable(c, cell): return raw_of(cell) if (c['status'] == 'counted' and cell) else None
    if os.path.exists(os.path.join(case, 'report.json')):
        r = json.load(open(os.path.join(case, 'report.json')))
        cols = r['columns']
        if not per_vcpu:
            build(out, cols, [(1, r['duration_ns'], [[usable(c, x) for c, x in zip(cols, r['totals'])]])], [-1], 0, argv)
            sys.stdout.write(run_perf(fmt, opts, False))
            return
        # This host has 2 CPUs, so perf can label at most CPU0/CPU1: one run per vCPU as CPU0.
        per = []
        for v in r['vcpus']:
            build(out, cols, [(1, r['duration_ns'], [[usable(c, x) for c, x in zip(cols, v['counts'])]])], [0], 0, argv)
            lines = run_perf(fmt, opts, True).split('\n')
            per.append((v, lines))
        lines0 = per[0][1]
        body_idx = [i for i, l in enumerate(lines0) if re.match(r'^(CPU0|\{"cpu")', l)]
        head, tail = lines0[:body_idx[0]], lines0[body_idx[-1] + 1:]
        body = []
        for k in range(len(body_idx)):
            for v, lines in per:
                bi = [i for i, l in enumerate(lines) if re.match(r'^(CPU0|\{"cpu")', l)]
                body.append(relabel(lines[bi[k]], fmt, v['vcpu'], v['status']))
        sys.stdout.write('\n'.join(head + body + tail))
        return
    st = json.load(open(os.path.join(case, 'started.json')))
    cols = st['columns']
    samples = sorted((json.load(open(os.path.join(case, f))) for f in os.listdir(case)
                      if f.startswith('sample-')), key=lambda s: s['seq'])
    if per_vcpu:
        rounds = [(0, s['elapsed_ns'], [[usable(c, x) for c, x in zip(cols, v['counts'])] for v in s['vcpus']]) for s in samples]
        build(out, cols, rounds, [v['vcpu'] for v in samples[0]['vcpus']], st['interval_ms'], argv)
        status = {}
        text = []
        for line in run_perf(fmt, opts, True).split('\n'):
            m = re.search(r'CPU(\d+)|"cpu" : "(\d+)"', line)
            if m:
                cpu = int(m.group(1) or m.group(2))
                t = re.match(r'\s*\{?"?i?n?t?e?r?v?a?l?"?\s*:?\s*([0-9.]+)', line)
                when = float(t.group(1)) if t else 0
                smp = min(samples, key=lambda s: abs(s['elapsed_ns'] / 1e9 - when))
                st_ = next(v['status'] for v in smp['vcpus'] if v['vcpu'] == cpu)
                line = relabel(line, fmt, cpu, st_)
            elif fmt == 'human':
                line = line.replace('time CPU   ', 'time vCPU  ')
            text.append(line)
        sys.stdout.write('\n'.join(text))
        return
    rounds = [(0, s['elapsed_ns'], [[usable(c, x) for c, x in zip(cols, s['totals'])]]) for s in samples]
    build(out, cols, rounds, [-1], st['interval_ms'], argv)
    sys.stdout.write(run_perf(fmt, opts, False))

main()
