//! `process_*` metrics of the running agent, read from `/proc/self` at scrape
//! time, with the names the Go client libraries use (dashboards rely on
//! `process_resident_memory_bytes` and `process_open_fds`).

use std::fmt::Write as _;

use ward_gostrconv::format_g;

/// Appends the process metrics to `out` (nothing on systems without `/proc`).
pub fn encode(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // stat(5) numbering: utime=14, stime=15, num_threads=20, starttime=22, vsize=23, rss=24;
    // `fields` starts at field 3 (state), so subtract 3.
    let ticks = 100.0; // USER_HZ is 100 on Linux.
    let page = 4096.0;
    let cpu = (field(14 - 3) + field(15 - 3)) / ticks;
    let threads = field(20 - 3);
    let start_ticks = field(22 - 3);
    let vsize = field(23 - 3);
    let rss = field(24 - 3) * page;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("btime ")
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0);
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(3)
                        .and_then(|v| v.parse::<f64>().ok())
                })
        })
        .unwrap_or(0.0);
    for (name, value) in [
        ("process_cpu_seconds_total", cpu),
        ("process_max_fds", max_fds),
        ("process_num_threads", threads),
        ("process_open_fds", open_fds as f64),
        ("process_resident_memory_bytes", rss),
        (
            "process_start_time_seconds",
            (boot + start_ticks / ticks).floor(),
        ),
        ("process_virtual_memory_bytes", vsize),
    ] {
        let _ = writeln!(out, "{name} {}", format_g(value));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_own_memory_and_fds() {
        let mut out = String::new();
        super::encode(&mut out);
        let value = |name: &str| -> f64 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in {out}"))
        };
        assert!(value("process_resident_memory_bytes") > 100_000.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_start_time_seconds") > 1_600_000_000.0);
        assert_eq!(out.lines().count(), 7);
    }
}
