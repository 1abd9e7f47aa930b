//! `cardhook-lab cpu -- COMMAND…`: how busy the whole machine was while a command ran (the server,
//! the generator and the kernel's I/O together), from the aggregate `cpu` line of Linux's
//! `/proc/stat`. A benchmark on a shared 2-core machine is bound by this, not by any one process
//! (docs/PERFORMANCE.md). When the command's last line of output is a JSON object (`cardhook bench
//! --json`), it is printed again with a `machine_cpu` field: cores busy, iowait, steal, and µs of CPU
//! a request (`sent` or `requests` of that object) over the whole command, sealing and checking
//! included.

use std::io::BufRead;
use std::process::{Command, Stdio};

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (program, rest) = args
        .command
        .split_first()
        .context("cpu needs a command to run")?;
    let before = CpuSample::now();
    let started = std::time::Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {program}"))?;
    let mut last = None;
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line?;
            if let Some(previous) = last.replace(line) {
                println!("{previous}");
            }
        }
    }
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    let machine = before.and_then(|b| CpuSample::now()?.since(&b));
    let Some(last) = last else {
        anyhow::ensure!(status.success(), "{program} failed: {status}");
        return Ok(());
    };
    match (serde_json::from_str::<serde_json::Value>(&last), machine) {
        (Ok(serde_json::Value::Object(mut object)), Some(m)) => {
            let requests = ["sent", "requests"]
                .iter()
                .find_map(|key| object.get(*key)?.as_u64())
                .unwrap_or(0) as usize;
            object.insert(
                "machine_cpu".into(),
                serde_json::json!({
                    "cpus": m.cpus, "busy_cores": m.busy_cores, "iowait_cores": m.iowait_cores,
                    "steal_cores": m.steal_cores, "cpu_us_per_request": m.micros_per_request(seconds, requests),
                }),
            );
            println!("{}", serde_json::Value::Object(object));
        }
        (_, machine) => {
            println!("{last}");
            if let Some(m) = machine {
                eprintln!(
                    "machine: {:.2} of {} cores busy (iowait {:.2}, steal {:.2}) over {seconds:.2} s",
                    m.busy_cores, m.cpus, m.iowait_cores, m.steal_cores
                );
            }
        }
    }
    anyhow::ensure!(status.success(), "{program} failed: {status}");
    Ok(())
}

/// The aggregate `cpu` line's counters (clock ticks since boot), and how many CPUs there are.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    busy: u64,
    iowait: u64,
    steal: u64,
    total: u64,
    cpus: usize,
}

/// CPU used between two samples, in cores (busy 1.5 of 2 cores = 1.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineCpu {
    pub cpus: usize,
    /// Running anything: user, nice, system, irq and softirq time.
    pub busy_cores: f64,
    /// Idle with I/O outstanding.
    pub iowait_cores: f64,
    /// Taken by the hypervisor for other guests.
    pub steal_cores: f64,
}

impl CpuSample {
    /// Reads `/proc/stat`; `None` where there is none (not Linux).
    pub fn now() -> Option<Self> {
        parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// What the machine did from `earlier` to this sample.
    pub fn since(&self, earlier: &CpuSample) -> Option<MachineCpu> {
        let total = self.total.checked_sub(earlier.total).filter(|&t| t > 0)? as f64;
        let cores =
            |now: u64, then: u64| now.saturating_sub(then) as f64 / total * self.cpus as f64;
        Some(MachineCpu {
            cpus: self.cpus,
            busy_cores: cores(self.busy, earlier.busy),
            iowait_cores: cores(self.iowait, earlier.iowait),
            steal_cores: cores(self.steal, earlier.steal),
        })
    }
}

impl MachineCpu {
    /// Microseconds of CPU (busy time on all cores) spent per request over `seconds`.
    pub fn micros_per_request(&self, seconds: f64, requests: usize) -> f64 {
        self.busy_cores * seconds * 1e6 / requests.max(1) as f64
    }
}

/// `cpu  user nice system idle iowait irq softirq steal …` (proc(5)); the `cpuN` lines count CPUs.
fn parse_proc_stat(text: &str) -> Option<CpuSample> {
    let aggregate = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = aggregate
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // Older kernels print fewer columns; a missing one counts as 0.
    let [user, nice, system, idle, iowait, irq, softirq, steal]: [u64; 8] =
        std::array::from_fn(|i| fields.get(i).copied().unwrap_or(0));
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    // guest time is already counted in user and nice (proc(5)), so it is left out of the total.
    Some(CpuSample {
        busy: user + nice + system + irq + softirq,
        iowait,
        steal,
        total: user + nice + system + idle + iowait + irq + softirq + steal,
        cpus: cpus.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "cpu  100 0 50 800 40 5 5 0 0 0\ncpu0 50 0 25 400 20 3 2 0 0 0\ncpu1 50 0 25 400 20 2 3 0 0 0\nintr 1 2 3\nctxt 9\n";
    const AFTER: &str = "cpu  250 10 120 920 60 10 10 20 0 0\ncpu0 125 5 60 425 30 5 5 10 0 0\ncpu1 125 5 60 425 30 5 5 10 0 0\nintr 1 2 3\nctxt 9\n";

    #[test]
    fn cores_are_shares_of_the_ticks_between_two_samples() {
        let before = parse_proc_stat(BEFORE).expect("parses");
        let after = parse_proc_stat(AFTER).expect("parses");
        // 400 ticks passed on 2 CPUs: busy 150 + 10 + 70 + 5 + 5 = 240, iowait 20, steal 20, idle 120.
        let used = after.since(&before).expect("ticks passed");
        assert_eq!(used.cpus, 2);
        assert!((used.busy_cores - 1.2).abs() < 1e-9, "{used:?}");
        assert!((used.iowait_cores - 0.1).abs() < 1e-9, "{used:?}");
        assert!((used.steal_cores - 0.1).abs() < 1e-9, "{used:?}");
        // 1.2 cores for 2 s over 4 000 requests: 600 µs each.
        assert!((used.micros_per_request(2.0, 4000) - 600.0).abs() < 1e-6);
    }

    #[test]
    fn no_ticks_or_no_aggregate_line_gives_nothing() {
        let before = parse_proc_stat(BEFORE).expect("parses");
        assert_eq!(before.since(&before), None);
        assert!(parse_proc_stat("intr 1 2 3\n").is_none());
        assert!(parse_proc_stat("cpu  1 x 3\n").is_none());
    }
}
