#!/usr/bin/python3
"""Per-function difference of two callgrind output files (exclusive Ir), per request.

    cgdiff.py BASE.out MORE.out N    -> top functions of (MORE - BASE) / N
"""
import re
import subprocess
import sys


def functions(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if m and ":" in m.group(2) and not m.group(2).startswith("=>"):
            d[m.group(2).strip()] = d.get(m.group(2).strip(), 0) + int(m.group(1).replace(",", ""))
    return d


base, more, n = functions(sys.argv[1]), functions(sys.argv[2]), int(sys.argv[3])
diff = {k: more.get(k, 0) - base.get(k, 0) for k in set(base) | set(more)}
total = sum(diff.values())
print("Exclusive Ir per request, (%s - %s) / %d; total %.0f Ir/request" % (sys.argv[2], sys.argv[1], n, total / n))
print()
for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:40]:
    print("%12.0f  %5.1f%%  %s" % (v / n, 100.0 * v / total if total else 0, k))
