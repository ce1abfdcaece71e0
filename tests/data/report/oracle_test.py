#!/usr/bin/env python3
"""Golden files proven against the real perf.

For every fixture case (tests/data/report/<case>/) and every format, perfkvm's golden output
(expected.human, expected-C.human, expected.csv, expected.json; golden_test.cpp holds the
formatter to them) is compared line by line with what `perf stat report` (perf 6.1) prints for
the same counts in en_US.UTF-8 and in C (GOLDEN_FILES), as rendered by perf-oracle.py. The only differences accepted are those of ALLOW_LIST below; each
rule names a deviation documented in README.md, says why it exists, and either rewrites a
golden line into the exact text perf prints or accepts a perf line only after checking that
both numbers are the ones the documented behaviour yields for the fixture. Anything else fails,
naming case, format and line.

usage: oracle_test.py [CASE_DIR...]      (default: every case next to this file)
Exit status: 0 all match, 1 differences, 77 skipped (printed why: no perf 6.1, localedef, ...).
"""
import difflib, importlib.util, json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = ('human', 'csv', 'json')
# Which golden file holds perf's output in which locale: the human report groups its counts by
# LC_NUMERIC (',' in en_US.UTF-8, nothing in C); CSV and JSON are the same file in both.
GOLDEN_FILES = (('human', 'en_US.UTF-8', 'expected.human'), ('human', 'C', 'expected-C.human'),
                ('csv', 'en_US.UTF-8', 'expected.csv'), ('csv', 'C', 'expected.csv'),
                ('json', 'en_US.UTF-8', 'expected.json'), ('json', 'C', 'expected.json'))
SKIP = 77


def load_oracle():
    # A __pycache__ here would look like one more case directory to golden_test.cpp and to us.
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location('perf_oracle', os.path.join(HERE, 'perf-oracle.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oracle_module = load_oracle()


class Violation(Exception):
    """A line matches a rule's pattern but not the way the documented deviation allows."""


class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))
        self.options = oracle_module.load(os.path.join(path, 'options.json'))
        self.per_vcpu = self.options.get('per_vcpu', False)
        report = os.path.join(path, 'report.json')
        if os.path.exists(report):
            self.report = oracle_module.load(report)
            self.columns = self.report['columns']
            self.samples = []
        else:
            self.report = None
            self.columns = oracle_module.load(os.path.join(path, 'started.json'))['columns']
            self.samples = sorted((oracle_module.load(os.path.join(path, f))
                                   for f in os.listdir(path) if f.startswith('sample-')),
                                  key=lambda s: s['seq'])

    def sample_at(self, time):
        """The sample whose interval line starts with `time` (perf's %lu.%09lu of elapsed)."""
        for i, s in enumerate(self.samples):
            if '%d.%09d' % divmod(s['elapsed_ns'], 10**9) == time:
                return i, s
        raise Violation('no sample of %s has elapsed time %s' % (self.name, time))

    def vcpu_status(self, vcpu, time):
        rows = self.report['vcpus'] if self.report else self.sample_at(time)[1].get('vcpus', [])
        for row in rows:
            if row['vcpu'] == vcpu:
                return row['status']
        raise Violation('the fixture has no vCPU %d%s' % (vcpu, ' at ' + time if time else ''))

    def interval_ns(self, time):
        """Length of the interval ending at `time`: with dropped samples it spans periods."""
        i, s = self.sample_at(time)
        return s['elapsed_ns'] - (self.samples[i - 1]['elapsed_ns'] if i else 0)

    def clock_ns(self, vcpu, time):
        """This interval's scaled task-clock (or cpu-clock) delta, as perf computes it."""
        clocks = [k for k, c in enumerate(self.columns) if c['event'] in ('task-clock', 'cpu-clock')]
        if len(clocks) != 1:
            # With two clocks perf would average both into its shadow stat; no case needs that.
            raise Violation('the /sec check needs exactly one clock column, %s has %d' % (
                self.name, len(clocks)))
        i, _ = self.sample_at(time)

        def cell(s):
            if vcpu is None: return s['totals'][clocks[0]]
            return next((v['counts'][clocks[0]] for v in s.get('vcpus', []) if v['vcpu'] == vcpu),
                        None)
        now = cell(self.samples[i])
        before = cell(self.samples[i - 1]) if i else None
        if now is None: return 0
        raw, ena, run = oracle_module.raw_of(now)
        if before is not None:
            b = oracle_module.raw_of(before)
            raw, ena, run = raw - b[0], ena - b[1], run - b[2]
        if run == 0: return 0
        return raw * ena / run if run < ena else raw


# ---------------------------------------------------------------------------------------------
# Line parsing, per format, of what the interval rules need. Labels are perf's (CPU<n>) because
# the rewrite rules run first.

TIME = {'human': r'^\s*(\d+\.\d{9}) ', 'csv': r'^\s*(\d+\.\d{9})%s', 'json': r'^\{"interval" : (\d+\.\d{9}), '}
LABEL = {'human': r'^(?:\s*\d+\.\d{9} )?CPU(\d+) ', 'csv': r'^(?:\s*\d+\.\d{9}%s)?CPU(\d+)%s',
         'json': r'"cpu" : "(\d+)", '}
SEC_UNITS = {'/sec': 1, 'K/sec': 1e3, 'M/sec': 1e6, 'G/sec': 1e9}


class Line:
    """One data line split into the fields a metric check needs; `rest` is everything but the
    metric (value and unit), so two lines differing only there have equal `rest`."""

    def __init__(self, fmt, sep, text):
        self.text = text
        esc = re.escape(sep)
        m = re.match(TIME[fmt] % esc if fmt == 'csv' else TIME[fmt], text)
        self.time = m.group(1) if m else None
        m = re.search(LABEL[fmt] % (esc, esc) if fmt == 'csv' else LABEL[fmt], text)
        self.vcpu = int(m.group(1)) if m else None
        self.value = self.value_text = self.unit = self.count = self.event = None
        self.decimals = 0
        if fmt == 'human':
            head, hash_, tail = text.partition('#')
            m = re.match(r'^(?:\s*\d+\.\d{9} )?(?:CPU\d+ +)?\s*([\d,.]+|<not counted>|<not supported>)'
                         r' +(?:msec +)?(\S+)', head)
            if m: self.count, self.event = m.group(1).replace(',', ''), m.group(2)
            self.rest = head
            self.metric_width = len(text) - len(head)
            m = re.match(r'^ +(\d+\.(\d+)) (\S.*?) *$', tail) if hash_ else None
            if m: self.value_text, self.decimals, self.unit = m.group(1), len(m.group(2)), m.group(3)
        elif fmt == 'csv':
            fields = text.split(sep)
            base = 1 if self.time else 0
            base += 1 if self.vcpu is not None else 0
            if len(fields) >= base + 7:
                self.count, self.event = fields[base], fields[base + 2]
                if fields[-2]:
                    self.value_text, self.unit = fields[-2], fields[-1]
                    self.decimals = len(fields[-2].partition('.')[2])
            self.rest = sep.join(fields[:-2])
            self.metric_width = 0
        else:
            m = re.search(r'"metric-value" : (-?\d+\.(\d+)), "metric-unit" : "([^"]*)"\}$', text)
            if m:
                self.value_text, self.decimals, self.unit = m.group(1), len(m.group(2)), m.group(3)
                self.rest = text[:m.start()]
            else:
                self.rest = text
            try:
                obj = json.loads(text)
                self.count, self.event = obj.get('counter-value'), obj.get('event')
            except ValueError:
                pass
            self.metric_width = 0
        if self.value_text is not None:
            self.value = float(self.value_text)


def numeric(text):
    return text is not None and re.fullmatch(r'-?\d+(\.\d+)?', text) is not None


def close(printed, decimals, exact, scale=1.0, slack=0.0):
    """Is `printed` (rounded to `decimals` places, in units of `scale`) the rounding of `exact`?"""
    return abs(printed * scale - exact) <= (0.5 * 10 ** -decimals) * scale * (1 + 1e-9) + slack


# ---------------------------------------------------------------------------------------------
# The allow-list. Rewrite rules turn golden lines into the exact text perf prints (they run in
# this order on the golden side only); pair rules accept a differing (golden, perf) line pair
# after checking both numbers. Every rule counts the lines it excused.

class Rule:
    def __init__(self, name, why, formats, rewrite=None, pair=None):
        self.name, self.why, self.formats = name, why, formats
        self.rewrite, self.pair = rewrite, pair
        self.excused = 0


def expected_notes(case):
    """perfkvm's notes for a report, as README.md lists them (formatter.cpp's notes())."""
    r = case.report
    notes = []
    if r['reason'] == 'domain-stopped':
        notes.append('# counting ended early: the domain stopped or its vCPU threads exited')
    elif r['reason'] == 'error':
        notes.append('# counting ended early: the host could not read the counters')
    elif r['reason'] != 'stopped':
        raise Violation('report.json reason %r is not one notes know' % r['reason'])
    dropped = r.get('samples_dropped', 0)
    if dropped == 1: notes.append('# 1 interval sample was dropped')
    elif dropped > 1: notes.append('# %d interval samples were dropped' % dropped)
    return notes


def rewrite_notes(case, fmt, sep, lines, violate):
    # Notes follow perf's last line (the blank after "seconds time elapsed"): exactly the notes
    # the fixture calls for, in order, immediately before the final empty string of the split.
    if case.report is None:
        return lines, 0
    notes = expected_notes(case)
    if not notes:
        return lines, 0
    body, tail = lines[:-1 - len(notes)], lines[-1 - len(notes):-1]
    if [t for _, t in tail] != notes:
        violate(tail[0][0] if tail else None,
                'the fixture calls for the notes %r at the end, the golden file ends %r' % (
                    notes, [t for _, t in tail]))
        return lines, 0
    return body + lines[-1:], len(notes)


def rewrite_header(case, fmt, sep, lines, violate):
    # perf names the command from the record file's argv; perfkvm names the VM as well.
    command, label = case.options.get('command', ''), case.options.get('target_label', '')
    if not command and not label: target = 'all vCPUs'
    elif not label: target = "'%s'" % command
    elif not command: target = label
    else: target = "'%s' on %s" % (command, label)
    perf = " Performance counter stats for '%s':" % (command or oracle_module.NO_COMMAND)
    out, n = [], 0
    for no, text in lines:
        if text.startswith(' Performance counter stats for '):
            if text != ' Performance counter stats for %s:' % target:
                violate(no, 'the header should name %s, as options.json implies' % target)
            elif text != perf:
                text, n = perf, n + 1
        out.append((no, text))
    return out, n


def rewrite_ended(case, fmt, sep, lines, violate):
    # Only the human format marks ended vCPUs; the marker must sit exactly on their lines.
    out, n = [], 0
    for no, text in lines:
        m = re.match(r'^(?:\s*(\d+\.\d{9}) )?vCPU(\d+) ', text)
        if m:
            status = case.vcpu_status(int(m.group(2)), m.group(1))
            marked = text.endswith('  (ended)')
            if marked != (status == 'ended'):
                violate(no, 'vCPU %s is %s in the fixture but the line %s "  (ended)"' % (
                    m.group(2), status, 'ends with' if marked else 'lacks'))
            elif marked:
                text, n = text[:-len('  (ended)')], n + 1
        out.append((no, text))
    return out, n


def rewrite_vcpu_status(case, fmt, sep, lines, violate):
    # perf has no notion of a vCPU ending; the value must be the fixture's status for the row.
    out, n = [], 0
    for no, text in lines:
        m = re.search(r'"vcpu" : "(\d+)", "vcpu-status" : "([a-z]+)", ', text)
        if m:
            t = re.match(TIME['json'], text)
            status = case.vcpu_status(int(m.group(1)), t.group(1) if t else None)
            if m.group(2) != status:
                violate(no, '"vcpu-status" : "%s" but vCPU %s is %s in the fixture' % (
                    m.group(2), m.group(1), status))
            # The key goes either way, so one wrong status is one problem, not a cascade.
            text, n = text[:m.start()] + '"vcpu" : "%s", ' % m.group(1) + text[m.end():], n + 1
        out.append((no, text))
    return out, n


def rewrite_vcpu_label(case, fmt, sep, lines, violate):
    # vCPU<n> fills perf's CPU%-7d field exactly: dropping the "v" and adding one blank after
    # the number gives perf's text, so a field-width slip still shows as a difference.
    patterns = {'human': (r'^(\s*\d+\.\d{9} )?vCPU(\d+) ', lambda m: (m.group(1) or '') + 'CPU%s  ' % m.group(2)),
                'csv': (r'^(\s*\d+\.\d{9}%s)?vCPU(\d+)%s' % (re.escape(sep), re.escape(sep)),
                        lambda m: (m.group(1) or '') + 'CPU%s%s' % (m.group(2), sep)),
                'json': (r'"vcpu" : "(\d+)", ', lambda m: '"cpu" : "%s", ' % m.group(1))}
    pattern, replace = patterns[fmt]
    out, n = [], 0
    for no, text in lines:
        new = re.sub(pattern, replace, text, count=1)
        if fmt == 'human' and re.match(r'^#\s+time vCPU ', text):
            new = text.replace(' vCPU ', ' CPU  ', 1)   # the interval column header
        if new != text: n += 1
        out.append((no, new))
    return out, n


def rewrite_metric_unit_null(case, fmt, sep, lines, violate):
    # perf 6.1 prints a NULL unit with %s for counted lines without a metric; perfkvm prints "".
    out, n = [], 0
    for no, text in lines:
        if (re.search(r'"counter-value" : "-?\d', text) and
                text.endswith('"metric-value" : 0.000000, "metric-unit" : ""}')):
            text, n = text[:-len('""}')] + '"(null)"}', n + 1
        out.append((no, text))
    return out, n


def pair_cpus_utilized(case, fmt, sep, exp, perf):
    # perf stat report has no wall time per interval, so it leaves "CPUs utilized" blank (JSON:
    # value 0). perfkvm divides the interval's task-clock by the time the interval covers.
    e = Line(fmt, sep, exp)
    if (e.time is None or e.unit != 'CPUs utilized' or e.event not in ('task-clock', 'cpu-clock')
            or not numeric(e.count)):
        return False
    if fmt == 'human':
        blanked = e.rest + ' ' * e.metric_width
    elif fmt == 'csv':
        blanked = e.rest + sep + sep
    else:
        blanked = e.rest + '"metric-value" : 0.000000, "metric-unit" : "CPUs utilized"}'
    if perf != blanked:
        return False
    count_ms = float(e.count)
    count_decimals = len(e.count.partition('.')[2])
    length_ms = case.interval_ns(e.time) / 1e6
    if not close(e.value, e.decimals, count_ms / length_ms,
                 slack=0.5 * 10 ** -count_decimals / length_ms):
        raise Violation('golden CPUs utilized %s, but %s msec over a %.6f ms interval is %.6f' % (
            e.value_text, e.count, length_ms, count_ms / length_ms))
    return True


def pair_sec_running_mean(case, fmt, sep, exp, perf):
    # perf stat report never resets its shadow stats between intervals, so its /sec divides by
    # the mean clock of all intervals so far; a live perf stat -I (and perfkvm) uses this
    # interval's clock.
    e, p = Line(fmt, sep, exp), Line(fmt, sep, perf)
    if (e.time is None or e.unit not in SEC_UNITS or p.unit not in SEC_UNITS or
            e.rest != p.rest or e.metric_width != p.metric_width or e.time != p.time or
            not numeric(e.count)):
        return False
    count = float(e.count)
    i, _ = case.sample_at(e.time)
    clocks = [case.clock_ns(e.vcpu, '%d.%09d' % divmod(s['elapsed_ns'], 10**9))
              for s in case.samples[:i + 1]]
    live = count * 1e9 / clocks[-1] if clocks[-1] else 0.0
    mean = sum(clocks) / len(clocks)
    report = count * 1e9 / mean if mean else 0.0
    if not close(p.value, p.decimals, report, SEC_UNITS[p.unit]):
        raise Violation('perf printed %s %s, not %d over the mean clock %.0f ns (%.6f/sec)' % (
            p.value_text, p.unit, count, mean, report))
    if not close(e.value, e.decimals, live, SEC_UNITS[e.unit]):
        raise Violation('golden %s %s, but %d over this interval\'s clock %.0f ns is %.6f/sec' % (
            e.value_text, e.unit, count, clocks[-1], live))
    # perf's convert_unit_double: K, M, G once the value exceeds 1000.
    unit = '/sec'
    for prefix, scale in (('K', 1e3), ('M', 1e6), ('G', 1e9)):
        if live > scale: unit = prefix + '/sec'
    if e.unit != unit:
        raise Violation('golden unit %s, but perf would scale %.6f/sec to %s' % (e.unit, live, unit))
    return True


ALLOW_LIST = [
    Rule('notes', 'perfkvm ends human reports with "# ..." notes for dropped samples and early '
         'ends (README "Judgement calls"); perf has no such lines. Deleted only when they are '
         'exactly the notes report.json calls for, at the very end.',
         ('human',), rewrite=rewrite_notes),
    Rule('header-target', 'perfkvm\'s header names the VM (for \'CMD\' on VM ..., for VM ..., for '
         'all vCPUs); perf names the recorded argv. The golden header must be the one '
         'options.json implies; it is replaced by perf\'s "for \'CMD\':".',
         ('human',), rewrite=rewrite_header),
    Rule('ended-marker', 'an ended vCPU gets "  (ended)" at the end of its human lines; perf '
         'cannot know. Stripped only from lines of vCPUs the fixture says ended, required there.',
         ('human',), rewrite=rewrite_ended),
    Rule('vcpu-status', 'perfkvm\'s JSON adds "vcpu-status"; its value must be the fixture\'s '
         'status for that vCPU (and interval); the key is removed.',
         ('json',), rewrite=rewrite_vcpu_status),
    Rule('vcpu-label', 'rows are labelled vCPU<n> in perf\'s 11-column CPU%-7d field (perf: '
         'CPU<n>), the interval header says "vCPU", and JSON says "vcpu" (perf: "cpu"). '
         'vCPU<n> -> CPU<n> plus one blank; "vcpu" -> "cpu".',
         FORMATS, rewrite=rewrite_vcpu_label),
    Rule('metric-unit-null', 'a counted JSON line without any metric has "metric-unit" : "" '
         'where perf 6.1 prints "(null)" (a NULL passed to %s).',
         ('json',), rewrite=rewrite_metric_unit_null),
    Rule('interval-cpus-utilized', 'perf stat report has no wall time per interval and leaves '
         '"CPUs utilized" blank (JSON value 0.000000); accepted when perf\'s line is the golden '
         'one with the metric blanked and the golden value is task-clock / interval length.',
         FORMATS, pair=pair_cpus_utilized),
    Rule('interval-sec-running-mean', 'perf stat report never resets its shadow stats, so from '
         'the second interval its /sec divides by the mean clock of all intervals so far; '
         'accepted when only the metric differs, perf\'s value is count / mean clock and the '
         'golden one is count / this interval\'s clock, both recomputed from the fixture.',
         FORMATS, pair=pair_sec_running_mean),
]


# ---------------------------------------------------------------------------------------------

def compare(case, fmt, golden_file, locale, perf_text, problems):
    """Compare one golden file with perf's output; append readable problems; return their count."""
    sep = case.options.get('separator', ',') if fmt == 'csv' else ' '
    where = '%s/%s (LC_ALL=%s)' % (case.name, golden_file, locale)
    try:
        with open(os.path.join(case.path, golden_file)) as f:
            golden = f.read()
    except OSError as e:
        problems.append('%s: %s' % (where, e))
        return 1
    original = dict(enumerate(golden.split('\n'), 1))
    lines = list(original.items())
    found = 0
    for rule in ALLOW_LIST:
        if rule.rewrite is None or fmt not in rule.formats: continue

        def violate(no, message):
            nonlocal found
            problems.append('%s%s: allow-list rule %s does not apply: %s' % (
                where, ':%d' % no if no else '', rule.name, message))
            found += 1
        try:
            lines, n = rule.rewrite(case, fmt, sep, lines, violate)
            rule.excused += n
        except Violation as e:   # the fixture itself lacks what the rule needs
            violate(None, str(e))
    perf = perf_text.split('\n')

    def show(no, text, perf_no, perf_line):
        out = []
        if no is not None:
            out.append('    golden   %s:%d: %s' % (where, no, original[no]))
            if text != original[no]:
                out.append('    as perf  %s:%d: %s' % (where, no, text))
        if perf_no is not None:
            out.append('    perf     (%s) line %d: %s' % (fmt, perf_no, perf_line))
        return out

    if len(lines) == len(perf):
        for (no, text), (perf_no, perf_line) in zip(lines, enumerate(perf, 1)):
            if text == perf_line: continue
            excused = False
            for rule in ALLOW_LIST:
                if rule.pair is None or fmt not in rule.formats: continue
                try:
                    if rule.pair(case, fmt, sep, text, perf_line):
                        rule.excused += 1
                        excused = True
                        break
                except Violation as e:
                    problems.append('%s:%d: allow-list rule %s does not apply: %s' % (
                        where, no, rule.name, e))
                    found += 1
                    excused = True
                    break
            if not excused:
                problems.append('%s:%d differs from perf stat report (%s):\n%s' % (
                    where, no, fmt, '\n'.join(show(no, text, perf_no, perf_line))))
                found += 1
        return found
    # Different line counts: a plain diff, numbered on both sides.
    texts = [t for _, t in lines]
    for tag, a0, a1, b0, b1 in difflib.SequenceMatcher(None, texts, perf, autojunk=False).get_opcodes():
        if tag == 'equal': continue
        body = []
        for k in range(a0, a1): body += show(lines[k][0], lines[k][1], None, None)
        for k in range(b0, b1): body += show(None, None, k + 1, perf[k])
        problems.append('%s: %s lines differ from perf stat report (%s) (%d golden, %d perf):\n%s' % (
            where, tag, fmt, a1 - a0, b1 - b0, '\n'.join(body)))
        found += max(a1 - a0, b1 - b0)
    return found


def main(argv):
    why = oracle_module.unavailable()
    if why:
        print('SKIP perf oracle: %s' % why)
        return SKIP
    dirs = argv[1:] or sorted(os.path.join(HERE, d) for d in os.listdir(HERE)
                              if os.path.isdir(os.path.join(HERE, d)))
    if not dirs:
        print('FAIL perf oracle: no case directories under %s' % HERE)
        return 1
    problems, pairs, differences = [], 0, 0
    try:
        with oracle_module.Oracle() as oracle:
            for d in dirs:
                case = Case(d)
                for fmt, locale, golden_file in GOLDEN_FILES:
                    pairs += 1
                    differences += compare(case, fmt, golden_file, locale,
                                           oracle.render(d, fmt, locale), problems)
    except oracle_module.OracleError as e:
        print('FAIL perf oracle: %s' % e)
        return 1
    for p in problems:
        print('FAIL ' + p)
    print('perf oracle: %d case/format/locale triples compared, %d differences outside the allow-list' % (
        pairs, differences))
    for rule in ALLOW_LIST:
        print('  allow-list %-26s %3d lines excused (%s)' % (rule.name + ':', rule.excused,
                                                            ', '.join(rule.formats)))
    return 1 if differences else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
