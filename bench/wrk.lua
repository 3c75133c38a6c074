-- wrk script for every benchmark run.
--   BENCH_POST_BYTES=N  send a POST with an N-byte body (the 1 MiB upload
--                       workload uses 1048576); otherwise plain GET.
-- done() prints one machine-readable line: BENCHJSON {...}
local n = tonumber(os.getenv("BENCH_POST_BYTES") or "")
if n and n > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", n)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
