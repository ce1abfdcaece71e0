#!/usr/bin/env python3
"""Check perfkvm's man pages (docs/man/*.scd) against the programs' --help.

    check_man_pages.py --scdoc-dir DIR --perfkvm BIN --perfkvm-host BIN --perfkvm-hostd BIN
                       [--scdoc PATH]

For perfkvm (perfkvm.1.scd), perfkvm-host (perfkvm-host.8.scd) and perfkvm-hostd
(perfkvm-hostd.8.scd), and for every subcommand that a --help lists under "Subcommands:"
(recursively: perfkvm-host xml enable, ...), it runs `BIN [SUB...] --help`, takes every option
name the help lists (-e, --event and --events of "-e,--event,--events EVENTS" are three) and
compares them with the names the page documents. It reports every name --help lists that the
page does not document, every name the page documents that --help no longer lists, every
subcommand without its section and every section of a subcommand that does not exist.

hostd.conf.5.scd must document, as keys, exactly perfkvm-hostd's long options without their
dashes, less those a configuration file may not set (NOT_CONFIGURABLE below).

With --scdoc PATH, each DIR/*.scd must also render: `PATH < FILE > /dev/null` exits 0.
Every .scd line must be at most 100 columns (tabs at 8), and its preamble must be
NAME(SECTION) as the file is named NAME.SECTION.scd.

The pages' convention, which this script relies on:

- An option is documented by a term line: a line that starts at column 0 with an option in
  bold, each name bold on its own, then its arguments, and is followed at once by its
  tab-indented description, e.g.
      *-e*, *--event*, *--events* _EVENTS_
      <TAB>The events to count, ...
  Every bold -x / --name on a term line counts. (A line of running text that happens to start
  with a bold option is not followed by a tab-indented line, and is not a term line.)
  A bold span on a term line that starts with '-' but is not one option name (*-h, --help*)
  is an error, so that a name cannot hide from the check.
- Term lines in "# OPTIONS" (and its "##" groups) document the program itself.
- In "# SUBCOMMANDS", a heading "## PROGRAM SUB [SUB...]" (the program's name, then the
  subcommand's words, nothing else) starts that subcommand's options. Every subcommand
  --help lists needs its heading, nested ones included. Term lines in "# SUBCOMMANDS" before
  the first such heading document options that every subcommand takes (-h, --help); each
  of them must be in every subcommand's --help.
- hostd.conf.5.scd: in "# KEYS" (and its "##" groups), a key is documented by a term line that
  starts at column 0 with the key in bold, then " = " and its value: *lease* = _MS_, followed
  at once by its tab-indented description.
- Term lines elsewhere, lines in ``` blocks and scdoc comments ("; ...") are not read.

Exit status: 0 when everything matches, 1 when something does not (each problem is listed),
2 for a usage error of this script.
"""

import argparse
import os
import re
import subprocess
import sys

# perfkvm-hostd's long options that its configuration file may not set: CLI11 makes the help
# flag (set_help_flag), the version flag (set_version_flag) and the config option itself
# (set_config) non-configurable (host-agent/hostd/hostd_options.cpp; a file that names one
# fails with "This option is not allowed in a configuration file"). Every other option of
# hostd is configurable.
NOT_CONFIGURABLE = ("help", "version", "config")

MAX_COLUMNS = 100

PAGES = (
    # (program, option of this script, page file)
    ("perfkvm", "perfkvm", "perfkvm.1.scd"),
    ("perfkvm-host", "perfkvm_host", "perfkvm-host.8.scd"),
    ("perfkvm-hostd", "perfkvm_hostd", "perfkvm-hostd.8.scd"),
)
CONFIG_PAGE = "hostd.conf.5.scd"

# --help sections whose indented lines are not options.
NOT_OPTION_SECTIONS = {"usage", "subcommands", "positionals", "examples"}

OPTION_NAME = re.compile(r"^(-[A-Za-z0-9]|--[A-Za-z0-9][A-Za-z0-9_-]*)$")
HELP_OPTION_LINE = re.compile(r"^  (-\S+)")
HELP_SUBCOMMAND_LINE = re.compile(r"^  ([a-z][a-z0-9-]*)(\s|$)")
SUBCOMMAND_WORD = re.compile(r"^[a-z][a-z0-9-]*$")
BOLD = re.compile(r"\*([^*]+)\*")
KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class Problems:
    def __init__(self):
        self.items = []

    def add(self, text):
        self.items.append(text)


# ---- --help ---------------------------------------------------------------------------------

def run_help(binary, path, problems):
    """The text of `binary PATH... --help`, or None (with a problem) if it fails."""
    command = [binary, *path, "--help"]
    env = dict(os.environ, LC_ALL="C")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        problems.add(f"cannot run {' '.join(command)}: {error}")
        return None
    if done.returncode != 0:
        problems.add(f"{' '.join(command)} exited with status {done.returncode}: "
                     f"{done.stderr.strip()}")
        return None
    return done.stdout


def parse_help(text, where, problems):
    """(option names, subcommand names) that a CLI11 --help text lists.

    Sections start at lines without indentation ("Options:", "Reaching the host:",
    "Subcommands:"); an option line is indented by exactly two spaces and starts with '-',
    its first word the names separated by commas ("-e,--event,--events", "--no-vsock{false}").
    Continuation lines are indented further and are skipped.
    """
    options, subcommands = set(), []
    section = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            stripped = line.strip()
            section = stripped[:-1].strip().lower() if stripped.endswith(":") else None
            continue
        if section is None:
            continue
        if section == "subcommands":
            match = HELP_SUBCOMMAND_LINE.match(line)
            if match:
                subcommands.append(match.group(1))
            continue
        if section in NOT_OPTION_SECTIONS:
            continue
        match = HELP_OPTION_LINE.match(line)
        if not match:
            continue
        for name in match.group(1).split(","):
            name = re.split(r"[{=]", name, maxsplit=1)[0]
            if OPTION_NAME.match(name):
                options.add(name)
            else:
                problems.add(f"{where}: cannot read option name {name!r} in --help line "
                             f"{line.strip()!r}")
    return options, subcommands


def help_tree(binary, program, problems):
    """{subcommand path (tuple): option names} for the program and all its subcommands."""
    tree = {}

    def visit(path):
        where = " ".join((program, *path))
        text = run_help(binary, list(path), problems)
        if text is None:
            return
        options, subcommands = parse_help(text, where, problems)
        tree[path] = options
        for sub in subcommands:
            visit(path + (sub,))

    visit(())
    return tree


# ---- the pages ------------------------------------------------------------------------------

def page_lines(path):
    """(line number, line, whether the next line is indented) of a page, without scdoc
    comments and ``` blocks."""
    with open(path, encoding="utf-8") as page:
        raw = page.read().split("\n")
    literal = False
    for index, line in enumerate(raw):
        if line.strip() == "```":
            literal = not literal
            continue
        if literal or line.startswith(";"):
            continue
        described = index + 1 < len(raw) and raw[index + 1].startswith("\t")
        yield index + 1, line, described


def term_line_options(line, where, problems):
    """The option names a term line documents; a problem for a bold span that hides one."""
    names = []
    for span in BOLD.findall(line):
        if not span.startswith("-"):
            continue
        if OPTION_NAME.match(span):
            names.append(span)
        else:
            problems.add(f"{where}: *{span}* is not one option name: write each name in its "
                         f"own bold, e.g. *-h*, *--help*")
    return names


def parse_program_page(path, program, problems):
    """(documented {path: names}, names documented for every subcommand, heading paths)."""
    name = os.path.basename(path)
    documented = {(): set()}
    every_subcommand = set()
    headings = {}
    section = None
    scope = None  # (): the program; a tuple: a subcommand; "every": before the first heading
    for number, line, described in page_lines(path):
        where = f"{name}:{number}"
        if line.startswith("# "):
            section = line[2:].strip().upper()
            scope = () if section == "OPTIONS" else ("every" if section == "SUBCOMMANDS"
                                                      else None)
            continue
        if line.startswith("## "):
            if section != "SUBCOMMANDS":
                continue  # a group of options (## Output) or of text: the scope stays
            words = line[3:].split()
            if (len(words) < 2 or words[0] != program
                    or not all(SUBCOMMAND_WORD.match(word) for word in words[1:])):
                problems.add(f"{where}: heading {line!r} in # SUBCOMMANDS does not name a "
                             f"subcommand as '## {program} SUB [SUB...]'")
                scope = None
                continue
            scope = tuple(words[1:])
            if scope in headings:
                problems.add(f"{where}: a second heading for '{' '.join(words)}' "
                             f"(the first at line {headings[scope]})")
            headings[scope] = number
            documented.setdefault(scope, set())
            continue
        if scope is None or not line.startswith("*-") or not described:
            continue
        names = term_line_options(line, where, problems)
        if scope == "every":
            every_subcommand.update(names)
        else:
            documented[scope].update(names)
    return documented, every_subcommand, headings


def parse_config_page(path, problems):
    """The keys a configuration page documents in # KEYS."""
    name = os.path.basename(path)
    keys = set()
    section = None
    for number, line, described in page_lines(path):
        if line.startswith("# "):
            section = line[2:].strip().upper()
            continue
        if section != "KEYS" or not line.startswith("*") or not described:
            continue
        match = BOLD.match(line)
        if not match or not KEY_NAME.match(match.group(1)):
            problems.add(f"{name}:{number}: term line {line!r} does not start with a key in "
                         f"bold (*name* = _VALUE_)")
            continue
        keys.add(match.group(1))
    return keys


def check_page_text(path, problems):
    """Preamble NAME(SECTION) matching the file name; lines of at most MAX_COLUMNS."""
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as page:
        lines = page.read().split("\n")
    stem = name[:-len(".scd")]
    page_name, _, page_section = stem.rpartition(".")
    preamble = re.match(r"^(\S+)\((\w+)\)", lines[0] if lines else "")
    if not preamble or preamble.groups() != (page_name, page_section):
        problems.add(f"{name}:1: the preamble must be {page_name}({page_section})")
    for number, line in enumerate(lines, 1):
        width = len(line.expandtabs(8))
        if width > MAX_COLUMNS:
            problems.add(f"{name}:{number}: {width} columns, more than {MAX_COLUMNS}")


def render(scdoc, path, problems):
    with open(path, "rb") as source:
        try:
            done = subprocess.run([scdoc], stdin=source, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            problems.add(f"cannot run {scdoc}: {error}")
            return False
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        problems.add(f"{os.path.basename(path)}: scdoc exited with status {done.returncode}: "
                     f"{message}")
        return False
    return True


# ---- the comparison -------------------------------------------------------------------------

def ordered(names):
    """Short options first, then long ones, each alphabetically."""
    return sorted(names, key=lambda name: (name.startswith("--"), name.lower(), name))


def check_program(program, binary, page_path, problems):
    """Compare one program's --help tree with its page; returns the hostd long options."""
    tree = help_tree(binary, program, problems)
    page = os.path.basename(page_path)
    if not os.path.exists(page_path):
        problems.add(f"{program}: no page {page_path}")
        return tree.get((), set())
    documented, every_subcommand, headings = parse_program_page(page_path, program, problems)

    for path in tree:  # in the order of --help
        command = " ".join((program, *path))
        in_help = tree[path]
        if path:
            if path not in headings:
                problems.add(f"{command}: {page} has no heading '## {command}' in "
                             f"# SUBCOMMANDS")
            in_page = documented.get(path, set()) | every_subcommand
        else:
            in_page = documented[()]
        place = f"'## {command}'" if path else "# OPTIONS"
        for name in ordered(in_help - in_page):
            problems.add(f"{command}: {name} is in --help but {page} does not document it "
                         f"(in {place})")
        for name in ordered(documented.get(path, set()) - in_help):
            problems.add(f"{command}: {page} documents {name} (in {place}) but "
                         f"'{command} --help' does not list it")
        if path:
            for name in ordered(every_subcommand - in_help):
                problems.add(f"{command}: {page} documents {name} for every subcommand, but "
                             f"'{command} --help' does not list it")
        print(f"{command}: {len(in_help)} options in --help, "
              f"{len(in_help & in_page)} documented")

    for path, number in sorted(headings.items()):
        if path not in tree:
            problems.add(f"{page}:{number}: '## {' '.join((program, *path))}' names a "
                         f"subcommand that --help does not list")
    return tree.get((), set())


def check_config_page(hostd_options, page_path, problems):
    allowed = {name[2:] for name in hostd_options if name.startswith("--")}
    missing_exclusions = [name for name in NOT_CONFIGURABLE if name not in allowed]
    for name in missing_exclusions:
        problems.add(f"hostd.conf: perfkvm-hostd --help no longer lists --{name}: "
                     f"update NOT_CONFIGURABLE in {os.path.basename(__file__)}")
    allowed -= set(NOT_CONFIGURABLE)
    page = os.path.basename(page_path)
    if not os.path.exists(page_path):
        problems.add(f"hostd.conf: no page {page_path}")
        return
    keys = parse_config_page(page_path, problems)
    for key in sorted(allowed - keys):
        problems.add(f"hostd.conf: key '{key}' (perfkvm-hostd --{key}) is allowed in the file "
                     f"but {page} does not document it (in # KEYS)")
    for key in sorted(keys - allowed):
        reason = ("the file may not set it" if key in NOT_CONFIGURABLE
                  else "perfkvm-hostd has no such long option")
        problems.add(f"hostd.conf: {page} documents key '{key}', but {reason}")
    print(f"hostd.conf: {len(allowed)} keys allowed (perfkvm-hostd's long options but "
          f"{', '.join('--' + name for name in NOT_CONFIGURABLE)}), "
          f"{len(allowed & keys)} documented")


def main():
    parser = argparse.ArgumentParser(
        description="Check perfkvm's man pages against the programs' --help.")
    parser.add_argument("--scdoc-dir", required=True, help="the directory of the .scd pages")
    parser.add_argument("--perfkvm", required=True, help="the perfkvm binary")
    parser.add_argument("--perfkvm-host", required=True, help="the perfkvm-host binary")
    parser.add_argument("--perfkvm-hostd", required=True, help="the perfkvm-hostd binary")
    parser.add_argument("--scdoc", help="the scdoc program: also check that each page renders")
    args = parser.parse_args()

    problems = Problems()
    hostd_options = set()
    for program, option, page in PAGES:
        options = check_program(program, getattr(args, option),
                                os.path.join(args.scdoc_dir, page), problems)
        if program == "perfkvm-hostd":
            hostd_options = options
    check_config_page(hostd_options, os.path.join(args.scdoc_dir, CONFIG_PAGE), problems)

    sources = sorted(os.path.join(args.scdoc_dir, name)
                     for name in os.listdir(args.scdoc_dir) if name.endswith(".scd"))
    for path in sources:
        check_page_text(path, problems)
    if args.scdoc:
        rendered = sum(render(args.scdoc, path, problems) for path in sources)
        print(f"scdoc: {rendered} of {len(sources)} pages render")
    else:
        print("scdoc: not checked (no --scdoc)")

    if problems.items:
        count = len(problems.items)
        print(f"man pages: {count} problem{'' if count == 1 else 's'}")
        for problem in problems.items:
            print(f"  {problem}")
        return 1
    print("man pages: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
