#!/usr/bin/python3
"""Per-function difference of two callgrind output files (exclusive Ir), per request.

    cgdiff.py [--inclusive] BASE.out MORE.out N    -> top functions of (MORE - BASE) / N

With --inclusive, a function's figure includes its callees' (the total
line is then the exclusive total, for reference).
"""
import re
import subprocess
import sys


def functions(path, inclusive=False):
    out = subprocess.run(["callgrind_annotate", "--inclusive=%s" % ("yes" if inclusive else "no"),
                          "--threshold=100", path],
                         capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if m and ":" in m.group(2) and not m.group(2).startswith("=>"):
            d[m.group(2).strip()] = d.get(m.group(2).strip(), 0) + int(m.group(1).replace(",", ""))
    return d


args = sys.argv[1:]
incl = args[0] == "--inclusive"
if incl:
    args = args[1:]
base, more, n = functions(args[0], incl), functions(args[1], incl), int(args[2])
diff = {k: more.get(k, 0) - base.get(k, 0) for k in set(base) | set(more)}
ex_b, ex_m = (functions(args[0]), functions(args[1])) if incl else (base, more)
total = sum(ex_m.get(k, 0) - ex_b.get(k, 0) for k in set(ex_b) | set(ex_m))
print("%s Ir per request, (%s - %s) / %d; total %.0f Ir/request"
      % ("Inclusive" if incl else "Exclusive", args[1], args[0], n, total / n))
print()
for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:150 if incl else 40]:
    print("%12.0f  %5.1f%%  %s" % (v / n, 100.0 * v / total if total else 0, k))
