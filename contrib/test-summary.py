#!/usr/bin/python3
"""Count test cases from the last `meson test` run in each BUILDDIR given.
A test that writes a JUnit file (pytest's --junitxml=, read from its
command line) counts its cases; a TAP test (the unit tests) its ok / not
ok lines; any other test (fuzz) counts as one. A JUnit file older than its
test's start is stale: the test did not report. Prints "N passed, N failed,
N skipped"; exits 1 if anything failed or did not run."""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def junit_of(t):
    for a in t.get("command") or []:
        if a.startswith("--junitxml="):
            return a[len("--junitxml="):]
    return None


def count_junit(path, t):
    if (not os.path.exists(path) or
            os.path.getmtime(path) < t.get("starttime", 0) - 1):
        print(f"test-summary: {t.get('name')}: pytest did not report")
        return 0, 1, 0
    passed = failed = skipped = 0
    for suite in ET.parse(path).getroot().iter("testsuite"):
        n = int(suite.get("tests", 0))
        f_ = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        s = int(suite.get("skipped", 0))
        passed, failed, skipped = passed + n - f_ - s, failed + f_, skipped + s
    if not failed and t.get("result") not in ("OK", "SKIP"):
        failed = 1      # pytest itself failed (e.g. a crash in teardown)
    return passed, failed, skipped


def count(build):
    total = [0, 0, 0]
    with open(os.path.join(build, "meson-logs", "testlog.json")) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout") or ""
            ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            junit = junit_of(t)
            if junit:
                r = count_junit(junit, t)
            elif re.search(r"^(not )?ok \d+", out, re.M):
                p = len(re.findall(r"^ok \d+(?!.*# SKIP)", out, re.M))
                s = len(re.findall(r"^ok \d+.*# SKIP", out, re.M))
                f_ = len(re.findall(r"^not ok", out, re.M))
                if not ok and f_ == 0:
                    f_ = 1      # crashed or bailed out before reporting
                r = p, f_, s
            elif t.get("result") == "SKIP":
                r = 0, 0, 1
            else:
                r = (1, 0, 0) if ok else (0, 1, 0)
            total = [a + b for a, b in zip(total, r)]
    return total


total = [0, 0, 0]
for b in sys.argv[1:] or ["build"]:
    for i, v in enumerate(count(b)):
        total[i] += v
print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
sys.exit(1 if total[1] else 0)
