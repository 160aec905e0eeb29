#!/usr/bin/python3
"""Count test cases from the last `meson test` run in each BUILDDIR given:
the TAP lines of the unit tests and pytest's JUnit XML of the integration
suite. Prints "N passed, N failed, N skipped"; exits 1 if anything failed
or did not run."""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def count(build):
    passed = failed = skipped = 0
    with open(os.path.join(build, "meson-logs", "testlog.json")) as f:
        for line in f:
            t = json.loads(line)
            name = t.get("name", "")
            out = t.get("stdout") or ""
            ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            if ":unit /" in name:
                p = len(re.findall(r"^ok \d+(?!.*# SKIP)", out, re.M))
                s = len(re.findall(r"^ok \d+.*# SKIP", out, re.M))
                f_ = len(re.findall(r"^not ok", out, re.M))
                if not ok and f_ == 0:
                    f_ = 1      # crashed or bailed out before reporting
                passed, skipped, failed = passed + p, skipped + s, failed + f_
            elif ":integration /" not in name and not ok:
                failed += 1
    junit = os.path.join(build, "pytest-integration.xml")
    if not os.path.exists(junit):
        print(f"test-summary: {build}: pytest did not run")
        return passed, failed + 1, skipped
    for suite in ET.parse(junit).getroot().iter("testsuite"):
        n = int(suite.get("tests", 0))
        f_ = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        s = int(suite.get("skipped", 0))
        passed, failed, skipped = passed + n - f_ - s, failed + f_, skipped + s
    return passed, failed, skipped


total = [0, 0, 0]
for b in sys.argv[1:] or ["build"]:
    for i, v in enumerate(count(b)):
        total[i] += v
print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
sys.exit(1 if total[1] else 0)
