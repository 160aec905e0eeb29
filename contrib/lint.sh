#!/bin/sh
# Static analysis of src/: stricter compiler warnings, cppcheck and
# clang-tidy (checks and reasons in .clang-tidy). Exits 1 on any finding
# in a file not on the PENDING list below.
#   contrib/lint.sh [BUILDDIR]     (BUILDDIR: a configured meson build,
#                                   for compile_commands.json; default build)
# Needs gcc, cppcheck (2.10) and clang-tidy (14): contrib/install-deps.sh.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:-$top/build}
cd "$top" || exit 1
if [ ! -f "$b/compile_commands.json" ]; then
	echo "lint: $b/compile_commands.json missing: meson setup $b first" >&2
	exit 1
fi

# PENDING: files whose findings are printed but do not fail the run (for
# a file in the middle of a larger change). Empty: everything counts;
# contrib/test.sh runs this as meson test 'lint'.
PENDING=""

# Beyond meson's -Wall -Wextra -Wformat=2 -Wshadow: -Wconversion (with
# gcc's -Wsign-conversion) once the PENDING files are clean of it, it moves
# to meson.build.
WARN="-Wconversion -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
-Wvla -Wnull-dereference"

out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

# The compile command of each file, minus output and dependency options.
/usr/bin/python3 - "$b" "$out" <<'PY'
import json, shlex, sys
b, out = sys.argv[1], sys.argv[2]
with open(b + "/compile_commands.json") as f:
    for e in json.load(f):
        if "/src/" not in e["file"]:
            continue
        a, keep, skip = shlex.split(e["command"]), [], False
        for x in a:
            if skip:
                skip = False
            elif x in ("-o", "-MQ", "-MF"):
                skip = True
            elif x not in ("-MD", "-c") and not x.startswith("-fdiag"):
                keep.append(x)
        name = e["file"].rsplit("/", 1)[1]
        with open(out + "/" + name + ".cmd", "w") as g:
            g.write(e["directory"] + "\n" + shlex.join(keep) + "\n")
PY

is_pending() {
	case " $PENDING " in *" $1 "*) return 0 ;; esac
	return 1
}

# Findings "src/x.c:LINE: ..." on stdin: print them, count the ones that
# count. Appends to $out/fail and $out/pending.
sort_findings() {
	while IFS= read -r line; do
		f=${line%%:*}
		if is_pending "$f"; then
			echo "  (pending) $line"
			echo "$line" >>"$out/pending"
		else
			echo "  $line"
			echo "$line" >>"$out/fail"
		fi
	done
}

echo "== compiler: $WARN" | tr '\n' ' '
echo
for c in "$out"/*.cmd; do
	dir=$(sed -n 1p "$c")
	cmd=$(sed -n 2p "$c")
	# shellcheck disable=SC2086
	(cd "$dir" && eval "$cmd" $WARN -fsyntax-only \
		-fdiagnostics-color=never) 2>&1 |
		sed -n 's|^\(\.\./\)*\(src/[^:]*:[0-9]*\):[0-9]*: warning: |\2: |p'
done | sort -u | sort_findings

echo "== cppcheck $(cppcheck --version | sed 's/Cppcheck //')"
# warning, performance, portability; not style (variableScope, which
# argues with declarations at the top of a block). Compound literals
# break cppcheck 2.10's parser (internalAstError): reported as pending
# for fs.c, where they are.
cppcheck --enable=warning,performance,portability --std=c11 \
	--library=gtk --library=posix --inline-suppr --quiet \
	-D_GNU_SOURCE -Iinclude -DG_GNUC_PRINTF\(a,b\)= \
	--suppress=missingIncludeSystem \
	--template='{file}:{line}: {id}: {message}' src/ 2>&1 |
	sort_findings

echo "== clang-tidy $(clang-tidy --version | sed -n 's/.*version //p')"
# A minute and a half for src/ on one core; LINT_JOBS=2 to use two.
# Warnings only: the analyzer's notes explain a path, they are not findings.
ls src/*.c | xargs -P "${LINT_JOBS:-1}" -n 1 clang-tidy -p "$b" --quiet \
	2>/dev/null |
	sed -n 's#^.*/\(src/[^:]*:[0-9]*\):[0-9]*: \(warning\|error\): \(.*\) \[\([^],]*\)[^]]*\]$#\1: \4: \3#p' |
	sort -u | sort_findings

n=$(cat "$out/fail" 2>/dev/null | wc -l)
p=$(cat "$out/pending" 2>/dev/null | wc -l)
echo "lint: $n findings, $p more in pending files ($PENDING)"
[ "$n" -eq 0 ]
