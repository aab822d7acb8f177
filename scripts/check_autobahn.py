#!/usr/bin/env python3
"""Check an Autobahn/kosoku report directory.

usage: check_autobahn.py REPORTDIR AGENT EXPECTED_MIN_CASES

Reads REPORTDIR/index.json, which kosoku (like the Autobahn testsuite) writes as

    { "<agent>": { "<case id>": { "behavior": "OK", "behaviorClose": "OK",
                                  "duration": 3, "remoteCloseCode": 1000,
                                  "reportfile": "<agent>_case_1_1_1.json" }, ... } }

The agent is the peer under test: in fuzzingclient mode the value of the
server's `Server:` response header (e.g. "Python/3.11 websockets/17.4"), or
"HOST:PORT" when the server sent none or could not be reached.  Pass AGENT '*'
to take every agent in the report (the report dir is wiped before each run, so
there normally is exactly one).

A case passes when `behavior` is OK, NON-STRICT or INFORMATIONAL and
`behaviorClose` is OK or INFORMATIONAL (UNIMPLEMENTED, FAILED, ERROR,
WRONG CODE, UNCLEAN, ... all fail).  Cases missing from the report (a run that
stopped early, a crashed kosoku, a wrong AGENT) are counted as failed: the run
fails when fewer than EXPECTED_MIN_CASES cases were found.

Output: one line per failing case, then the summary line
    autobahn: N passed, M failed
Exit status 0 only if nothing failed and enough cases were found.
"""

from __future__ import annotations

import json
import os
import sys

OK_BEHAVIOR = {"OK", "NON-STRICT", "INFORMATIONAL"}
OK_CLOSE = {"OK", "INFORMATIONAL"}


def case_key(case_id: str) -> list[int]:
    try:
        return [int(p) for p in case_id.split(".")]
    except ValueError:
        return [1 << 30]


def detail(reportdir: str, entry: dict) -> str:
    """The per-case report's explanation, if the per-case file is there."""
    name = entry.get("reportfile")
    if not name:
        return ""
    try:
        with open(os.path.join(reportdir, name), encoding="utf-8") as f:
            case = json.load(f)
    except (OSError, ValueError):
        return ""
    parts = []
    for key in ("result", "resultClose"):
        text = case.get(key)
        if text and text not in parts:
            parts.append(text)
    return " | ".join(parts)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    reportdir, agent, expected_s = argv[1], argv[2], argv[3]
    try:
        expected = int(expected_s)
    except ValueError:
        print(f"check_autobahn: EXPECTED_MIN_CASES must be an integer, got {expected_s!r}",
              file=sys.stderr)
        return 2

    index_path = os.path.join(reportdir, "index.json")
    index: dict = {}
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        print(f"check_autobahn: {index_path} not found (kosoku did not finish?)")
    except ValueError as e:
        print(f"check_autobahn: {index_path} is not valid JSON: {e}")

    cases: dict[str, dict] = {}
    if agent == "*":
        multi = len(index) > 1
        for ag, entries in index.items():
            for cid, entry in entries.items():
                cases[f"{ag} {cid}" if multi else cid] = entry
    elif agent in index:
        cases = dict(index[agent])
    elif index:
        print(f"check_autobahn: agent {agent!r} not in report; agents present: "
              + ", ".join(repr(a) for a in index))

    passed = failed = 0
    for cid in sorted(cases, key=lambda c: case_key(c.split(" ")[-1])):
        entry = cases[cid]
        beh = entry.get("behavior")
        beh_close = entry.get("behaviorClose")
        if beh in OK_BEHAVIOR and beh_close in OK_CLOSE:
            passed += 1
            continue
        failed += 1
        line = (f"FAIL {cid}: behavior={beh} behaviorClose={beh_close}"
                f" remoteCloseCode={entry.get('remoteCloseCode')}")
        why = detail(reportdir, entry)
        if why:
            line += f" -- {why}"
        print(line)

    found = len(cases)
    if found < expected:
        missing = expected - found
        print(f"check_autobahn: only {found} cases in report, expected at least {expected}; "
              f"counting {missing} missing cases as failed")
        failed += missing

    print(f"autobahn: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
