//! Unit tests of the `metrics` layer over a real shared mapping: a slot
//! claimed, requests recorded, the reader's sums, the restart reasons a
//! reaped process leaves, and the escaping of both outputs. The handlers
//! and the cross-process sums are tested end to end by
//! tests/test_metrics_prom.py and tests/test_status_page.py.

#[path = "../src/ffi/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    clippy::all
)]
mod ffi;

#[path = "../src/apache/mod.rs"]
#[allow(dead_code, unused_imports)]
mod apache;

#[path = "../src/config/mod.rs"]
#[allow(dead_code, unused_imports)]
mod config;

#[path = "../src/metrics/mod.rs"]
#[allow(dead_code, unused_imports)]
mod metrics;

use metrics::layout::{self, Layout, Reason, KIND_DAEMON};
use metrics::{prom, read, record, status, Sample};

fn layout() -> Layout {
    let words = layout::words_for(4, 3);
    let region = apache::shm::Region::create(words).expect("mmap");
    Layout::init(region.words(), 4, 3).expect("layout")
}

fn sample<'a>(pg: &'a str, ag: &'a str, status: u16, us: u64) -> Sample<'a> {
    Sample {
        process_group: pg,
        application_group: ag,
        status,
        duration_us: us,
        queue_wait_us: us / 2,
        gil_wait_us: 0,
    }
}

// One test: the slot is process state (claimed once per process).
#[test]
fn record_read_render() {
    let l = layout();
    assert!(record::claim(l, KIND_DAEMON, "g\"<x>"));
    let weird = "a\\b\"c\nd<script>";
    for (status, us) in [(200, 500), (200, 3_000), (404, 40_000), (500, 2_000_000)] {
        let f = record::begin("g\"<x>", weird, b"GET", b"/p", 1, false);
        f.finish(&sample("g\"<x>", weird, status, us));
    }
    let held = record::begin("g\"<x>", weird, b"POST", b"/<b>stuck</b>", 7, true);
    let snap = read::snapshot(l, record::now_us());
    let t = &snap.labelled[&("g\"<x>".to_string(), weird.to_string())];
    assert_eq!(t.status, [0, 2, 0, 1, 1, 0]);
    assert_eq!(t.active, 1);
    let d = &t.hists[layout::H_DURATION];
    assert_eq!(d.count, 4);
    assert_eq!(d.sum_us, 2_043_500);
    assert_eq!(d.buckets[layout::bucket(500)], 1);
    assert_eq!(d.buckets[layout::bucket(2_000_000)], 1);
    let g = &snap.groups["g\"<x>"];
    assert_eq!(g.procs.len(), 1);
    assert_eq!(g.procs[0].busy, 1);
    assert_eq!(g.procs[0].requests, 4);
    assert_eq!(g.procs[0].current[0].url, "/<b>stuck</b>");

    let text = prom::render(&snap, "1.0", "3.11");
    assert!(text.contains(
        "mod_wsgi_rs_requests_total{process_group=\"g\\\"<x>\",application_group=\"a\\\\b\\\"c\\nd<script>\",status_class=\"2xx\"} 2\n"
    ));
    assert!(text.contains("le=\"+Inf\"} 4\n"));
    assert!(text.contains("_count{process_group=\"g\\\"<x>\""));
    let page = status::html_page(&snap, "host<", Some(3));
    assert!(page.contains("/&lt;b&gt;stuck&lt;/b&gt;"));
    assert!(page.contains("g&quot;&lt;x&gt;"));
    assert!(!page.contains("<b>stuck") && !page.contains("host<"));
    let json = status::json_page(&snap);
    assert!(json.contains("\"url\":\"/\\u003cb\\u003estuck\\u003c/b\\u003e\""));

    drop(held);
    let snap = read::snapshot(l, record::now_us());
    let t = &snap.labelled[&("g\"<x>".to_string(), weird.to_string())];
    assert_eq!(t.active, 0);
    assert!(snap.groups["g\"<x>"].procs[0].current.is_empty());

    // The daemon says why it exits; the supervisor's reaping counts it.
    record::note_exit(Reason::MaximumRequests);
    record::note_exit(Reason::Signal); // the first reason wins
    record::reaped(l, std::process::id() as i32, 0);
    let snap = read::snapshot(l, record::now_us());
    let g = &snap.groups["g\"<x>"];
    assert_eq!(g.restarts, [1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(g.procs.is_empty(), "the reaped slot is free");
}
