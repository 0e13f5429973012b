//! `process_*` metrics of the running agent, read from `/proc` at scrape
//! time: every family kubenurse exports on Linux (the VictoriaMetrics
//! metrics library's process metrics, in its order, with its types and
//! number formats), then `process_max_fds` and `process_open_fds` (which
//! dashboards use; kubenurse v1.15.3's library no longer writes them) and
//! the network byte counters of the process's network namespace, under the
//! Go client library's names.
//!
//! The `go_*` families have no meaning for a Rust process and are not written.

use std::fmt::Write as _;

use ward_gostrconv::format_g;

/// Where cgroup v2 mounts its tree.
const CGROUP2_ROOT: &str = "/sys/fs/cgroup";

/// The process metrics of this process; pressure (PSI) counters start at
/// zero when it is created, as the VictoriaMetrics library's do.
#[derive(Debug, Clone)]
pub struct ProcessMetrics {
    psi_start: Option<Psi>,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Total stall time (microseconds) of one cgroup: some and full, for cpu, io, memory.
#[derive(Debug, Clone, Copy, Default)]
struct Psi([u64; 6]);

impl Psi {
    /// The process's cgroup v2 pressure totals; `None` without cgroup v2 PSI.
    fn read() -> Option<Self> {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let (_, path) = cgroup.split_once("::")?;
        let dir = format!("{CGROUP2_ROOT}{}", path.trim().trim_end_matches('/'));
        let mut totals = [0u64; 6];
        for (i, resource) in ["cpu", "io", "memory"].iter().enumerate() {
            let text = std::fs::read_to_string(format!("{dir}/{resource}.pressure")).ok()?;
            for line in text.lines() {
                let slot = match line.split_whitespace().next() {
                    Some("some") => 2 * i,
                    Some("full") => 2 * i + 1,
                    _ => continue,
                };
                totals[slot] = line.split_once("total=")?.1.trim().parse().ok()?;
            }
        }
        Some(Self(totals))
    }
}

/// How a value is written: Go `%d` (`WriteGaugeUint64`) or `%g`.
#[derive(Clone, Copy)]
enum Number {
    Int(u64),
    Float(f64),
}

impl ProcessMetrics {
    /// Reads the pressure baseline now.
    pub fn new() -> Self {
        Self {
            psi_start: Psi::read(),
        }
    }

    /// Appends the process metrics to `out` (nothing on systems without
    /// `/proc`); `metadata` adds `# HELP`/`# TYPE` lines, as the registry's.
    pub fn encode(&self, out: &mut String, metadata: bool) {
        for (name, kind, value) in self.read() {
            if metadata {
                let _ = writeln!(out, "# HELP {name}\n# TYPE {name} {kind}");
            }
            let _ = match value {
                Number::Int(v) => writeln!(out, "{name} {v}"),
                Number::Float(v) => writeln!(out, "{name} {}", format_g(v)),
            };
        }
    }

    fn read(&self) -> Vec<(&'static str, &'static str, Number)> {
        let mut m = Vec::with_capacity(32);
        let Some(stat) = Stat::read() else {
            return m;
        };
        let ticks = 100.0; // USER_HZ is 100 on Linux.
        let status = Status::read();
        let (counter, gauge) = ("counter", "gauge");
        m.extend([
            (
                "process_cpu_seconds_system_total",
                counter,
                Number::Float(stat.stime as f64 / ticks),
            ),
            (
                "process_cpu_seconds_total",
                counter,
                Number::Float((stat.utime + stat.stime) as f64 / ticks),
            ),
            (
                "process_cpu_seconds_user_total",
                counter,
                Number::Float(stat.utime as f64 / ticks),
            ),
            (
                "process_major_pagefaults_total",
                counter,
                Number::Int(stat.majflt),
            ),
            (
                "process_minor_pagefaults_total",
                counter,
                Number::Int(stat.minflt),
            ),
            ("process_num_threads", gauge, Number::Int(stat.threads)),
            (
                "process_resident_memory_bytes",
                gauge,
                Number::Int(status.rss),
            ),
            (
                "process_start_time_seconds",
                gauge,
                Number::Int(boot_time() + stat.start_ticks / 100),
            ),
            (
                "process_virtual_memory_bytes",
                gauge,
                Number::Int(stat.vsize),
            ),
            (
                "process_virtual_memory_peak_bytes",
                gauge,
                Number::Int(status.vm_peak),
            ),
            (
                "process_resident_memory_peak_bytes",
                gauge,
                Number::Int(status.rss_peak),
            ),
            (
                "process_resident_memory_anon_bytes",
                gauge,
                Number::Int(status.rss_anon),
            ),
            (
                "process_resident_memory_file_bytes",
                gauge,
                Number::Int(status.rss_file),
            ),
            (
                "process_resident_memory_shared_bytes",
                gauge,
                Number::Int(status.rss_shmem),
            ),
        ]);
        // The library writes these as gauges despite the `_total` names.
        let io = Io::read();
        m.extend([
            ("process_io_read_bytes_total", gauge, Number::Int(io.rchar)),
            (
                "process_io_written_bytes_total",
                gauge,
                Number::Int(io.wchar),
            ),
            (
                "process_io_read_syscalls_total",
                gauge,
                Number::Int(io.syscr),
            ),
            (
                "process_io_write_syscalls_total",
                gauge,
                Number::Int(io.syscw),
            ),
            (
                "process_io_storage_read_bytes_total",
                gauge,
                Number::Int(io.read_bytes),
            ),
            (
                "process_io_storage_written_bytes_total",
                gauge,
                Number::Int(io.write_bytes),
            ),
        ]);
        if let (Some(start), Some(now)) = (self.psi_start, Psi::read()) {
            let secs = |i: usize| Number::Float(now.0[i].saturating_sub(start.0[i]) as f64 / 1e6);
            m.extend([
                (
                    "process_pressure_cpu_waiting_seconds_total",
                    counter,
                    secs(0),
                ),
                (
                    "process_pressure_cpu_stalled_seconds_total",
                    counter,
                    secs(1),
                ),
                (
                    "process_pressure_io_waiting_seconds_total",
                    counter,
                    secs(2),
                ),
                (
                    "process_pressure_io_stalled_seconds_total",
                    counter,
                    secs(3),
                ),
                (
                    "process_pressure_memory_waiting_seconds_total",
                    counter,
                    secs(4),
                ),
                (
                    "process_pressure_memory_stalled_seconds_total",
                    counter,
                    secs(5),
                ),
            ]);
        }
        if let Some((open, max)) = fds() {
            m.push(("process_max_fds", gauge, Number::Int(max)));
            m.push(("process_open_fds", gauge, Number::Int(open)));
        }
        if let Some((received, sent)) = network_bytes() {
            m.push((
                "process_network_receive_bytes_total",
                counter,
                Number::Int(received),
            ));
            m.push((
                "process_network_transmit_bytes_total",
                counter,
                Number::Int(sent),
            ));
        }
        m
    }
}

/// The fields of `/proc/self/stat` used here.
struct Stat {
    minflt: u64,
    majflt: u64,
    utime: u64,
    stime: u64,
    threads: u64,
    start_ticks: u64,
    vsize: u64,
}

impl Stat {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let (_, after) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        // stat(5) numbering; `fields` starts at field 3 (state).
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        Some(Self {
            minflt: field(10)?,
            majflt: field(12)?,
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
        })
    }
}

/// The memory fields of `/proc/self/status`, in bytes.
#[derive(Default)]
struct Status {
    rss: u64,
    vm_peak: u64,
    rss_peak: u64,
    rss_anon: u64,
    rss_file: u64,
    rss_shmem: u64,
}

impl Status {
    fn read() -> Self {
        let mut s = Self::default();
        let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(key), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            let bytes = value.parse::<u64>().unwrap_or(0) * 1024;
            match key {
                "VmRSS:" => s.rss = bytes,
                "VmPeak:" => s.vm_peak = bytes,
                "VmHWM:" => s.rss_peak = bytes,
                "RssAnon:" => s.rss_anon = bytes,
                "RssFile:" => s.rss_file = bytes,
                "RssShmem:" => s.rss_shmem = bytes,
                _ => {}
            }
        }
        s
    }
}

/// `/proc/self/io` (zero where the kernel does not give it).
#[derive(Default)]
struct Io {
    rchar: u64,
    wchar: u64,
    syscr: u64,
    syscw: u64,
    read_bytes: u64,
    write_bytes: u64,
}

impl Io {
    fn read() -> Self {
        let mut io = Self::default();
        let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            let v = value.trim().parse().unwrap_or(0);
            match key {
                "rchar" => io.rchar = v,
                "wchar" => io.wchar = v,
                "syscr" => io.syscr = v,
                "syscw" => io.syscw = v,
                "read_bytes" => io.read_bytes = v,
                "write_bytes" => io.write_bytes = v,
                _ => {}
            }
        }
        io
    }
}

/// Boot time, seconds since the epoch (`btime` of `/proc/stat`).
fn boot_time() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("btime ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
}

/// (open, soft limit) file descriptors; an unlimited limit is `u64::MAX`.
fn fds() -> Option<(u64, u64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let soft = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?;
    let max = match soft {
        "unlimited" => u64::MAX,
        n => n.parse().ok()?,
    };
    Some((open, max))
}

/// (received, transmitted) bytes over every interface of the process's
/// network namespace (`/proc/self/net/dev`), as the Go client library reads them.
fn network_bytes() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/net/dev").ok()?;
    let mut totals = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let (_, counters) = line.split_once(':')?;
        let fields: Vec<u64> = counters
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        totals.0 += fields.first().copied().unwrap_or(0);
        totals.1 += fields.get(8).copied().unwrap_or(0);
    }
    Some(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubenurse's process families on Linux (VictoriaMetrics/metrics
    /// v1.43.2, `WritePrometheus(w, true)`), in its order, then ward's.
    const KUBENURSE_FAMILIES: [&str; 20] = [
        "process_cpu_seconds_system_total",
        "process_cpu_seconds_total",
        "process_cpu_seconds_user_total",
        "process_major_pagefaults_total",
        "process_minor_pagefaults_total",
        "process_num_threads",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_virtual_memory_bytes",
        "process_virtual_memory_peak_bytes",
        "process_resident_memory_peak_bytes",
        "process_resident_memory_anon_bytes",
        "process_resident_memory_file_bytes",
        "process_resident_memory_shared_bytes",
        "process_io_read_bytes_total",
        "process_io_written_bytes_total",
        "process_io_read_syscalls_total",
        "process_io_write_syscalls_total",
        "process_io_storage_read_bytes_total",
        "process_io_storage_written_bytes_total",
    ];

    fn values(out: &str) -> Vec<(&str, &str)> {
        out.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .collect()
    }

    #[test]
    fn writes_kubenurses_families_in_its_order_then_fds_and_network() {
        let mut out = String::new();
        let metrics = ProcessMetrics::new();
        metrics.encode(&mut out, false);
        let lines = values(&out);
        let names: Vec<&str> = lines.iter().map(|(n, _)| *n).collect();
        assert_eq!(names[..20], KUBENURSE_FAMILIES, "{out}");
        let psi = if metrics.psi_start.is_some() { 6 } else { 0 };
        assert_eq!(
            names[20 + psi..],
            [
                "process_max_fds",
                "process_open_fds",
                "process_network_receive_bytes_total",
                "process_network_transmit_bytes_total",
            ],
            "{out}"
        );
        let value = |name: &str| -> u64 {
            lines
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing or not an integer in {out}"))
        };
        // Sizes are integers, as Go's %d writes them, never 1.2e+07.
        assert!(value("process_resident_memory_bytes") > 100_000);
        assert!(
            value("process_resident_memory_peak_bytes") >= value("process_resident_memory_bytes")
        );
        assert!(
            value("process_virtual_memory_peak_bytes") >= value("process_virtual_memory_bytes")
        );
        assert!(value("process_open_fds") >= 3);
        assert!(value("process_start_time_seconds") > 1_600_000_000);
        assert!(value("process_io_read_bytes_total") > 0, "it read /proc");
    }

    #[test]
    fn metadata_types_are_the_librarys() {
        let mut out = String::new();
        ProcessMetrics::new().encode(&mut out, true);
        for (name, kind) in [
            ("process_cpu_seconds_total", "counter"),
            ("process_minor_pagefaults_total", "counter"),
            ("process_resident_memory_bytes", "gauge"),
            ("process_io_read_bytes_total", "gauge"),
            ("process_open_fds", "gauge"),
        ] {
            assert!(
                out.contains(&format!("# HELP {name}\n# TYPE {name} {kind}\n{name} ")),
                "{name}: {out}"
            );
        }
    }

    #[test]
    fn network_bytes_add_every_interface() {
        let (received, sent) = network_bytes().expect("/proc/self/net/dev");
        assert!(received >= 1 || sent == 0, "rx {received} tx {sent}");
    }
}
