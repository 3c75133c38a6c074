//! The end of a request's metrics, the same in both modes: the shared
//! recording (`crate::metrics`) is given what `wsgi::serve` measured
//! (`RequestStats`): status, duration, queue wait, GIL wait.

use crate::metrics::{InFlight, Sample};
use crate::wsgi::Served;

/// Records the finished request of process group `pg` and application
/// group `ag`; `served` is `None` when Python did not run it (500).
pub fn record(in_flight: InFlight, pg: &str, ag: &str, served: Option<&Served>) {
    let stats = served.map(|s| s.stats).unwrap_or_default();
    let since = |from: i64, to: i64| {
        if from > 0 && to > from {
            (to - from) as u64
        } else {
            0
        }
    };
    in_flight.finish(&Sample {
        process_group: pg,
        application_group: ag,
        status: if served.is_some() { stats.status } else { 500 },
        duration_us: since(stats.request_start, super::env::now_us()),
        queue_wait_us: since(stats.queue_start, stats.daemon_start),
        gil_wait_us: stats.gil_wait,
    });
}
