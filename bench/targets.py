#!/usr/bin/env python3
"""The product's targets, met or missed: a table made from bench/peers.sh's page.

Reads book/src/generated/bench-peers.md (written by bench/peers.sh) and
writes book/src/generated/bench-targets.md: one row per target the
product, `backend`, was given, with backend's median, the peer figures it
is compared with, the verdict and the ratio. It measures nothing itself:
every number comes from the page, so both pages are from the same run.

Usage:
  python3 bench/targets.py          write the page (and print it)
  python3 bench/targets.py --check  parse the page and compare with the
                                    committed bench-targets.md; exit 1 if
                                    it is stale

The tables are read by their column names, not their positions; a table
or a column that is missing stops the script with exit status 1. Python 3
and its standard library only.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "book/src/generated/bench-peers.md"
PAGE = ROOT / "book/src/generated/bench-targets.md"
PRODUCT = "backend"

MB = 1_000_000          # the targets' unit: a megabyte, 10^6 bytes
MIB = 1024 * 1024       # the source page's unit: a mebibyte, 2^20 bytes


class PageError(Exception):
    """The page does not have what we need: a table, a column, a row."""


# ------------------------------------------------------- reading the page --

def tables(markdown):
    """Every table in the page, as {heading: [row, ...]}, each row a dict
    from column name to cell text. The heading is the `####` line above."""
    found, heading, lines = {}, None, markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            names = cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                values = cells(lines[i])
                if len(values) != len(names):
                    raise PageError(f"a row of the table under '{heading}' has "
                                    f"{len(values)} cells for {len(names)} columns")
                rows.append(dict(zip(names, values)))
                i += 1
            found[heading] = rows
            continue
        i += 1
    return found


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table(all_tables, heading_part):
    """The table whose heading contains heading_part."""
    matches = [rows for heading, rows in all_tables.items() if heading and heading_part in heading]
    if len(matches) != 1:
        raise PageError(f"expected one table under a heading with '{heading_part}', "
                        f"found {len(matches)}")
    return matches[0]


def column(rows, name):
    """The column called name, or the one column whose name starts with it
    (the page puts settings in some names: 'within 1 s', 'of 32 logins')."""
    names = list(rows[0]) if rows else []
    if name in names:
        return name
    starting = [n for n in names if n.startswith(name)]
    if len(starting) != 1:
        raise PageError(f"no single column '{name}…' in a table with columns {names}")
    return starting[0]


def cell(rows, name, **match):
    """The cell in column name of the row whose columns have the values in
    match (server="backend", connections="256"), or None if no row does."""
    match = {column(rows, key): value for key, value in match.items()}
    wanted = column(rows, name)
    for row in rows:
        if all(row[key] == value for key, value in match.items()):
            return row[wanted]
    return None


# ---------------------------------------------------------- cell contents --

def number(pattern, text):
    """The number matched by pattern's group in text (None for '—' or no
    match), with the page's bold marks and thousands separators ignored."""
    if text is None:
        return None
    found = re.search(pattern, text.replace("**", "").replace(",", ""))
    return float(found.group(1)) if found else None


def mib(text):
    return number(r"([\d.]+) MiB", text)


def ms(text):
    return number(r"([\d.]+) ms", text)


def count_of(text):
    """'42 of 42' -> (42, 42)."""
    found = re.search(r"(\d+) of (\d+)", text or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def mb_from_mib(value):
    return value * MIB / MB


def need(value, what):
    """value, or a PageError naming what is missing."""
    if value is None:
        raise PageError(f"cannot read {what}")
    return value


# ------------------------------------------------------------ the targets --

def show_mb(value_mib):
    return f"{mb_from_mib(value_mib):.1f} MB ({value_mib:.1f} MiB)"


def verdict(met):
    return "met" if met else "**missed**"


def throughput_rows(load):
    rows = []
    for connections in ("8", "64", "256"):
        rps = {server: need(number(r"([\d.]+)", cell(load, "requests/s", server=server,
                                                     connections=connections)),
                            f"the requests/s of {server} at {connections} connections")
               for server in (PRODUCT, "actix-web", "nginx")}
        to_actix = rps[PRODUCT] / rps["actix-web"]
        to_nginx = rps[PRODUCT] / rps["nginx"]
        rows.append((
            f"requests/s at {connections} connections",
            "≥ 1.0× actix-web and ≥ 0.9× nginx",
            f"{rps[PRODUCT]:.0f}",
            f"actix-web {rps['actix-web']:.0f}, nginx {rps['nginx']:.0f}",
            verdict(to_actix >= 1.0 and to_nginx >= 0.9),
            f"{to_actix:.2f}× actix-web, {to_nginx:.2f}× nginx",
        ))
    return rows


def starved_row(load):
    def starved(server):
        text = cell(load, "connections unanswered for", server=server, connections="256")
        return need(count_of(text), f"the starved connections of {server} at 256")[0]

    fresh = cell(load, "a fresh client", server=PRODUCT, connections="256")
    peers = ", ".join(f"{server} {starved(server)}" for server in ("axum", "actix-web", "nginx"))
    return ("starved connections at 256 (unanswered for ≥ 1 s)", "0",
            f"{starved(PRODUCT)} of 256; a fresh client: {fresh}", peers,
            verdict(starved(PRODUCT) == 0), "—")


def idle_rows(idle):
    peers = ("nginx", "actix-web", "axum", "mio-floor")

    def rss(server):
        return need(mib(cell(idle, "RSS with them open", server=server)), f"the idle RSS of {server}")

    held = need(number(r"(\d+)", cell(idle, "held open after an answer", server=PRODUCT)),
                "how many connections were held")
    still_open = need(number(r"(\d+)", cell(idle, "still open after the probes", server=PRODUCT)),
                      "how many connections were still open")
    peer_rss = ", ".join(f"{server} {mb_from_mib(rss(server)):.1f} MB" for server in peers)
    # An RSS read with fewer connections open is not the RSS of 10 000.
    rss_verdict = (verdict(mb_from_mib(rss(PRODUCT)) <= 16) if min(held, still_open) >= 10_000
                   else "not measured: fewer than 10 000 open")
    rss_row = ("RSS with 10 000 idle connections", "≤ 16 MB",
               f"{show_mb(rss(PRODUCT))}; {held:.0f} held, {still_open:.0f} still open after",
               peer_rss, rss_verdict, f"{mb_from_mib(rss(PRODUCT)) / 16:.2f}× the limit")

    p99 = ms(cell(idle, "fresh client p99", server=PRODUCT))
    answered, probes = need(count_of(cell(idle, "fresh clients answered 200", server=PRODUCT)),
                            "how many fresh clients were answered")
    peer_p99 = ", ".join(f"{server} {cell(idle, 'fresh client p99', server=server)}" for server in peers)
    p99_text = f"{p99:.2f} ms" if p99 is not None else "—"
    fresh_row = ("a fresh client among 10 000 idle connections",
                 "p99 < 10 ms, every one answered",
                 f"p99 {p99_text}; {answered} of {probes} answered",
                 f"p99: {peer_p99}",
                 verdict(p99 is not None and p99 < 10 and answered == probes),
                 f"{p99 / 10:.2f}× the limit" if p99 is not None else "—")
    return [rss_row, fresh_row]


def memory_rows(summary):
    def load(server):
        return need(mib(cell(summary, "peak RSS at 256 connections", server=server)),
                    f"the RSS under load of {server}")

    peers = ", ".join(f"{server} {mb_from_mib(load(server)):.1f} MB"
                      for server in ("actix-web", "axum", "mio-floor"))
    load_row = ("RSS under load at 256 connections (peak)", "≤ 10 MB", show_mb(load(PRODUCT)), peers,
                verdict(mb_from_mib(load(PRODUCT)) <= 10),
                f"{mb_from_mib(load(PRODUCT)) / 10:.2f}× the limit")

    storm_text = cell(summary, "peak RSS in a burst of", server=PRODUCT)
    storm = need(mib(storm_text), f"the login storm of {PRODUCT} in '{storm_text}'")
    rest = need(number(r"at rest ([\d.]+) MiB", storm_text), "the RSS at rest before the storm")
    answers = re.search(r"200/401/503 in each repetition: ([^)]*)", storm_text)
    detail = f"{show_mb(storm)}; at rest {mb_from_mib(rest):.1f} MB"
    if answers:
        detail += f"; 200/401/503: {answers.group(1)}"
    storm_row = ("RSS during a login storm (peak, hashes capped)", "≤ 16 MB", detail,
                 "— (the peers have no /api/login)",
                 verdict(mb_from_mib(storm) <= 16), f"{mb_from_mib(storm) / 16:.2f}× the limit")
    return [load_row, storm_row]


def cold_start_row(summary):
    name = "cold start"

    def median(server):
        return need(ms(cell(summary, name, server=server)), f"the cold start of {server}")

    ours = cell(summary, name, server=PRODUCT)
    peers = ", ".join(f"{server} {median(server):.2f} ms" for server in ("actix-web", "axum"))
    return ("cold start (exec to the first 200), median", "≤ 3 ms", ours, peers,
            verdict(median(PRODUCT) <= 3), f"{median(PRODUCT) / 3:.2f}× the limit")


def binary_row(summary):
    name = "stripped binary"
    size = need(number(r"^(\d+)", cell(summary, name, server=PRODUCT)), f"the size of {PRODUCT}")
    actix = need(number(r"^(\d+)", cell(summary, name, server="actix-web")), "actix-web's size")
    return ("stripped binary", "< 2.73 MB",
            f"{size / MB:.2f} MB ({size:.0f} bytes)",
            f"actix-web (this peer) {actix / MB:.2f} MB",
            verdict(size < 2.73 * MB), f"{size / (2.73 * MB):.2f}× the limit")


def slow_rows(slow):
    rows = []
    for attack in ("slowloris (-H)", "slow body (-B)", "slow read (-X)"):
        answered, probes = need(count_of(cell(slow, "fresh clients answered 200",
                                              server=PRODUCT, attack=attack)),
                                f"the fresh clients of {PRODUCT} during {attack}")
        slowest = ms(cell(slow, "slowest of those", server=PRODUCT, attack=attack))
        held = cell(slow, "connections slowhttptest held", server=PRODUCT, attack=attack)
        peers = ", ".join(f"{server} {cell(slow, 'slowest of those', server=server, attack=attack)}"
                          f" ({cell(slow, 'fresh clients answered 200', server=server, attack=attack)})"
                          for server in ("actix-web", "axum"))
        slowest_text = f"{slowest:.2f} ms" if slowest is not None else "—"
        rows.append((f"a fresh client during {attack}", "every one answered, within 6 ms",
                     f"{answered} of {probes} answered, slowest {slowest_text} "
                     f"(slowhttptest held {held})",
                     peers,
                     verdict(answered == probes and slowest is not None and slowest <= 6),
                     f"{slowest / 6:.2f}× the limit" if slowest is not None else "—"))
    return rows


# --------------------------------------------------------------- the page --

def measured_on(markdown, source_name):
    """The source page's last paragraph (machine, date, commit), with its
    regenerate command extended by this script."""
    found = re.search(r"^Measured on .*", markdown, re.MULTILINE | re.DOTALL)
    if not found:
        raise PageError("no 'Measured on …' paragraph (the machine, date and commit)")
    paragraph = found.group(0).strip()
    regenerate = re.search(r"Regenerate with `([^`]*)`\.?$", paragraph)
    if regenerate:
        paragraph = (paragraph[:regenerate.start()]
                     + f"Regenerate with `{regenerate.group(1)}`, then `python3 bench/targets.py`.")
    return f"From {source_name}. {paragraph}"


def render(markdown):
    all_tables = tables(markdown)
    load = table(all_tables, "Keep-alive load")
    if not any(row[column(load, "server")] == PRODUCT for row in load):
        raise PageError(f"the page has no `{PRODUCT}` rows: it was made without it. Run "
                        f"OURS=\"stage-10 {PRODUCT}\" bench/peers.sh first")
    idle = table(all_tables, "idle keep-alive connections")
    summary = table(all_tables, "Memory under load")
    slow = table(all_tables, "Slow clients")

    rows = (throughput_rows(load) + [starved_row(load)] + idle_rows(idle)
            + memory_rows(summary) + [cold_start_row(summary), binary_row(summary)]
            + slow_rows(slow))
    met = sum(1 for row in rows if row[4] == "met")
    lines = [
        "<!-- Generated by bench/targets.py from bench-peers.md; do not edit by hand. -->",
        "",
        f"| measure | target | {PRODUCT}'s median | the peer figures it is compared with "
        "| met / missed | ratio |",
        "|---|---|---|---|---|---:|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        f"{met} of {len(rows)} met. Every figure is a cell of the tables above (medians of the "
        "repetitions, from the same run). MB here is 10^6 bytes; the tables above give "
        "MiB (2^20 bytes = 1.048576 MB). The *ratio* is "
        f"{PRODUCT}'s figure over the peer's for requests/s, and over the limit for "
        "the others (below 1 is within a limit). *Within 6 ms* is the slowest answer a fresh "
        "client got during the attack (the median over the repetitions); "
        "*actix-web (this peer)* is the minimal actix-web server built as above, "
        "with `panic = \"abort\"`.",
        "",
        measured_on(markdown, SOURCE.name),
    ]
    return "\n".join(lines) + "\n"


def main(arguments):
    check = arguments == ["--check"]
    if arguments and not check:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        page = render(SOURCE.read_text(encoding="utf-8"))
    except (PageError, OSError) as problem:
        print(f"bench/targets.py: {SOURCE.relative_to(ROOT)}: {problem}", file=sys.stderr)
        return 1
    if check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != page:
            print(f"bench/targets.py: {PAGE.relative_to(ROOT)} is stale: "
                  "run python3 bench/targets.py", file=sys.stderr)
            return 1
        print(f"{PAGE.relative_to(ROOT)} is up to date with {SOURCE.relative_to(ROOT)}")
        return 0
    PAGE.write_text(page, encoding="utf-8")
    print(page, end="")
    print(f"(written to {PAGE.relative_to(ROOT)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
