//! CPU and memory readings for `/metrics`.

use std::sync::{LazyLock, Mutex};

use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

pub struct Usage {
    /// Machine-wide CPU use since the previous sample, in percent.
    pub cpu_percent: f64,
    /// Machine-wide memory in use, in percent.
    pub memory_percent: f64,
    pub rss_bytes: u64,
}

static SYSTEM: LazyLock<Mutex<System>> = LazyLock::new(|| Mutex::new(System::new()));

pub fn sample() -> Usage {
    let mut sys = SYSTEM.lock().unwrap_or_else(|p| p.into_inner());
    sys.refresh_cpu_usage();
    sys.refresh_memory();
    let rss_bytes = sysinfo::get_current_pid()
        .ok()
        .and_then(|pid| {
            sys.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_memory(),
            );
            sys.process(pid).map(|p| p.memory())
        })
        .unwrap_or(0);
    let total = sys.total_memory().max(1) as f64;
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Usage {
        cpu_percent: round(f64::from(sys.global_cpu_usage())),
        memory_percent: round(sys.used_memory() as f64 / total * 100.0),
        rss_bytes,
    }
}
