//! [`Metrics`]: counters the server keeps about itself, and the `/metrics`
//! page that shows them in Prometheus's text format. Chapter 10 explains
//! the format and the choice of metrics.
//!
//! A monitoring system (Prometheus, or anything that reads its format)
//! fetches `/metrics` every few seconds and keeps the numbers over time:
//! how many requests, how fast, how busy. The format is plain text, one
//! number per line, which is why we can write it by hand:
//!
//! ```text
//! # TYPE http_requests_total counter
//! http_requests_total{route="/health",status="200"} 3
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

// ANCHOR: buckets
/// The upper bounds, in seconds, of the latency histogram's buckets: from
/// half a millisecond (a static file) to 2.5 s (something is wrong).
/// Each request counts in every bucket whose bound is at least its time.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
// ANCHOR_END: buckets

/// What the server knows about itself right now, read when `/metrics` is
/// asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauges {
    pub open_connections: usize,
    pub queued_jobs: usize,
    pub hashes_in_flight: usize,
}

// ANCHOR: metrics
/// Requests counted by route and status, and their latency.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

// ANCHOR: counts
#[derive(Debug, Default)]
struct Counts {
    /// By (route, status). The route is the pattern (`/api/users/:id`),
    /// never the path (`/api/users/7`): one series per user would grow
    /// without bound, and a monitoring system pays for every series.
    requests: BTreeMap<(&'static str, u16), u64>,
    /// How many requests fell in each bucket (not cumulative here; the page
    /// adds them up).
    buckets: [u64; LATENCY_BUCKETS.len()],
    /// Slower than the last bucket.
    beyond_last_bucket: u64,
    total_seconds: f64,
    total_requests: u64,
}
// ANCHOR_END: counts

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    // ANCHOR: record
    /// Counts one answered request.
    pub fn record(&self, route: &'static str, status: u16, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.requests.entry((route, status)).or_default() += 1;
        match LATENCY_BUCKETS.iter().position(|&bound| seconds <= bound) {
            Some(bucket) => counts.buckets[bucket] += 1,
            None => counts.beyond_last_bucket += 1,
        }
        counts.total_seconds += seconds;
        counts.total_requests += 1;
    }
    // ANCHOR_END: record

    /// The page, in Prometheus's text exposition format (version 0.0.4).
    pub fn render(&self, gauges: Gauges, stage: &str) -> String {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut page = String::new();
        header(
            &mut page,
            "http_requests_total",
            "counter",
            "Requests answered, by route and status.",
        );
        for ((route, status), count) in &counts.requests {
            let _ = writeln!(
                page,
                "http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        header(
            &mut page,
            "http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to the end of its response.",
        );
        // ANCHOR: histogram
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(counts.buckets) {
            cumulative += count;
            let _ = writeln!(
                page,
                "http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let everything = cumulative + counts.beyond_last_bucket;
        let _ = writeln!(
            page,
            "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {everything}"
        );
        let _ = writeln!(
            page,
            "http_request_duration_seconds_sum {}",
            counts.total_seconds
        );
        let _ = writeln!(
            page,
            "http_request_duration_seconds_count {}",
            counts.total_requests
        );
        // ANCHOR_END: histogram
        for (name, help, value) in [
            (
                "http_open_connections",
                "Connections open now, served or waiting.",
                gauges.open_connections,
            ),
            (
                "pool_queued_jobs",
                "Jobs (password hashes, database queries, file opens) waiting for a pool worker.",
                gauges.queued_jobs,
            ),
            (
                "password_hashes_in_flight",
                "Argon2 hashes and checks running now.",
                gauges.hashes_in_flight,
            ),
        ] {
            header(&mut page, name, "gauge", help);
            let _ = writeln!(page, "{name} {value}");
        }
        header(
            &mut page,
            "backend_build_info",
            "gauge",
            "Always 1; the labels say what is running.",
        );
        let _ = writeln!(
            page,
            "backend_build_info{{version=\"{}\",stage=\"{stage}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        page
    }
}
// ANCHOR_END: metrics

/// The two comment lines that introduce a metric.
fn header(page: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(page, "# HELP {name} {help}");
    let _ = writeln!(page, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Gauges = Gauges {
        open_connections: 1,
        queued_jobs: 0,
        hashes_in_flight: 0,
    };

    #[test]
    fn requests_are_counted_by_route_and_status() {
        let metrics = Metrics::new();
        metrics.record("/health", 200, Duration::from_micros(100));
        metrics.record("/health", 200, Duration::from_micros(100));
        metrics.record("/api/users/:id", 404, Duration::from_micros(100));
        let page = metrics.render(IDLE, "11");
        assert!(
            page.contains("http_requests_total{route=\"/health\",status=\"200\"} 2\n"),
            "{page}"
        );
        assert!(
            page.contains("http_requests_total{route=\"/api/users/:id\",status=\"404\"} 1\n"),
            "{page}"
        );
    }

    #[test]
    fn the_histogram_is_cumulative_and_ends_with_every_request() {
        let metrics = Metrics::new();
        metrics.record("/health", 200, Duration::from_micros(300)); // <= 0.0005
        metrics.record("/health", 200, Duration::from_millis(1)); // exactly 0.001
        metrics.record("/health", 200, Duration::from_millis(30)); // <= 0.05
        metrics.record("/health", 200, Duration::from_secs(3)); // beyond 2.5
        let page = metrics.render(IDLE, "11");
        for line in [
            "http_request_duration_seconds_bucket{le=\"0.0005\"} 1\n",
            "http_request_duration_seconds_bucket{le=\"0.001\"} 2\n",
            "http_request_duration_seconds_bucket{le=\"0.025\"} 2\n",
            "http_request_duration_seconds_bucket{le=\"0.05\"} 3\n",
            "http_request_duration_seconds_bucket{le=\"2.5\"} 3\n",
            "http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n",
            "http_request_duration_seconds_count 4\n",
        ] {
            assert!(page.contains(line), "{line}in\n{page}");
        }
        assert!(
            page.contains("http_request_duration_seconds_sum 3.0313\n"),
            "{page}"
        );
    }

    #[test]
    fn gauges_and_build_info_are_shown_as_given() {
        let gauges = Gauges {
            open_connections: 3,
            queued_jobs: 2,
            hashes_in_flight: 1,
        };
        let page = Metrics::new().render(gauges, "11");
        assert!(page.contains("\nhttp_open_connections 3\n"), "{page}");
        assert!(page.contains("\npool_queued_jobs 2\n"), "{page}");
        assert!(page.contains("\npassword_hashes_in_flight 1\n"), "{page}");
        assert!(
            page.contains("backend_build_info{version=\"0.1.0\",stage=\"11\"} 1\n"),
            "{page}"
        );
    }
}
