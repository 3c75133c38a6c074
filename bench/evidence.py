#!/usr/bin/python3
"""Per-request CPU split, page faults and syscalls, mod_wsgi_rs vs mod_wsgi 4.9.4, at c=1.

    /usr/bin/python3 bench/evidence.py [outdir]     (default bench/results)

For each module: a fresh Apache with the bench configuration; 400 x 1 MiB /upload and
20,000 /hello keep-alive requests with `ab -k -c 1`, reporting utime, stime and minor
faults per request over all Apache processes; then `strace -c -f` on the children
over 2,000 /hello requests.  Run it on an otherwise idle machine; it complements the
callgrind figures of profile.sh (which cannot see the kernel side).
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(bench.BENCH, "results")
bench.prepare_tree()
body = os.path.join(bench.SHM, "body.bin")
with open(body, "wb") as f:
    f.write(b"x" * 1048576)


def stat(pids):
    u = s = f = 0
    for p in pids:
        x = bench._stat_fields(p)
        f += int(x[7])
        u += int(x[11])
        s += int(x[12])
    return u, s, f


lines = []
for name in ("rs", "mod_wsgi"):
    a = bench.Apache(name, name, name)
    a.start()
    for path, n, post in (("/upload", 400, True), ("/hello", 20000, False)):
        bench.validate(a, [w for w in bench.WORKLOADS_ALL + bench.WORKLOADS if w[1] == path][0])
        base = ["ab", "-q", "-k", "-c", "1"]
        tail = (["-p", body, "-T", "application/octet-stream"] if post else []) + ["http://127.0.0.1:%d%s" % (a.port, path)]
        subprocess.run(base + ["-n", "50"] + tail, capture_output=True)
        pids = a.pids()
        u0, s0, f0 = stat(pids)
        subprocess.run(base + ["-n", str(n)] + tail, capture_output=True)
        u1, s1, f1 = stat(pids)
        lines.append("%-8s %-7s utime %6.1f us/req  stime %6.1f us/req  minor faults %7.1f /req" % (
            name, path, (u1 - u0) / bench.CLK * 1e6 / n, (s1 - s0) / bench.CLK * 1e6 / n, (f1 - f0) / n))
        print(lines[-1], flush=True)
    url = "http://127.0.0.1:%d/hello" % a.port
    args = ["strace", "-c", "-f", "-o", os.path.join(out, "strace-hello-c1-%s.txt" % name)]
    for p in a.workers():
        args += ["-p", str(p)]
    st = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    subprocess.run(["ab", "-q", "-k", "-c", "1", "-n", "2000", url], capture_output=True)
    time.sleep(0.5)
    st.terminate()
    st.wait()
    a.stop()
with open(os.path.join(out, "cpu-faults-c1.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("strace summaries: %s/strace-hello-c1-{rs,mod_wsgi}.txt (2,000 keep-alive /hello requests, ab -c 1)" % out)
