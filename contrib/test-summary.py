#!/usr/bin/python3
"""Count test cases from the last `meson test` run: TAP lines of the unit
tests and pytest's JUnit XML; print the totals as "N passed, N failed"."""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

build = sys.argv[1] if len(sys.argv) > 1 else "build"
passed = failed = skipped = 0
with open(os.path.join(build, "meson-logs", "testlog.json")) as f:
    for line in f:
        t = json.loads(line)
        out = t.get("stdout") or ""
        name = t.get("name", "")
        if ":unit /" in name:
            ok = len(re.findall(r"^ok \d+(?! # SKIP)", out, re.M))
            sk = len(re.findall(r"^ok \d+.*# SKIP", out, re.M))
            bad = len(re.findall(r"^not ok", out, re.M))
            if t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
                bad = 1     # crashed or bailed out before reporting
            passed += ok
            skipped += sk
            failed += bad
        elif t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and \
                ":integration /" not in name:
            failed += 1
junit = os.path.join(build, "pytest-integration.xml")
if os.path.exists(junit):
    for suite in ET.parse(junit).getroot().iter("testsuite"):
        tests = int(suite.get("tests", 0))
        f_ = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        s_ = int(suite.get("skipped", 0))
        passed += tests - f_ - s_
        failed += f_
        skipped += s_
else:
    print("test-summary: no integration results (pytest did not run)")
    failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
