//! The load generator behind `cardhook bench` and the lab's baselines: the pushes of a run, sealed as
//! WeChat seals them, driven as pre-built requests over keep-alive HTTP/1.1 connections at a fixed
//! concurrency, with per-request latencies.
//!
//! The client writes pre-serialized request bytes and reads just enough of each answer (status
//! line, Content-Length, body), so its own cost stays far below the server's, as with wrk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::accounts::Account;
use crate::wechat::Mode;

/// The pushes of a run: `events` distinct `user_get_card`s spread over `channels` OuterIds (1..),
/// plus a share `duplicates` of exact redeliveries.
#[derive(Debug, Clone, Copy)]
pub struct PushPlan {
    pub events: usize,
    pub channels: usize,
    pub duplicates: f64,
}

impl PushPlan {
    /// The distinct events, numbered: user `oB{run_id}_{i}` gets code `{run_id}{i:09}` of `card_id`.
    pub fn events<'a>(
        &self,
        run_id: &'a str,
        card_id: &'a str,
        now: i64,
    ) -> impl Iterator<Item = (usize, String)> + 'a {
        let channels = self.channels.max(1);
        (0..self.events).map(move |i| {
            let outer_id = (i % channels) as i64 + 1;
            let xml = get_card_xml(
                &format!("oB{run_id}_{i}"),
                now,
                card_id,
                &format!("{run_id}{i:09}"),
                outer_id,
            );
            (i, xml)
        })
    }

    /// Add the exact redeliveries (of the first items), then shuffle; returns how many were added.
    pub fn with_redeliveries<T: Clone>(
        &self,
        mut items: Vec<T>,
        rng: &mut impl rand::Rng,
    ) -> (Vec<T>, usize) {
        use rand::seq::SliceRandom;
        let distinct = items.len();
        let redeliveries =
            ((distinct as f64 * self.duplicates).round() as usize).min(distinct * 10);
        for d in 0..redeliveries {
            items.push(items[d % distinct].clone());
        }
        items.shuffle(rng);
        (items, redeliveries)
    }
}

/// A `user_get_card` push as WeChat sends it (reference 000), from a QR code.
fn get_card_xml(
    openid: &str,
    create_time: i64,
    card_id: &str,
    code: &str,
    outer_id: i64,
) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event>\
         <CardId><![CDATA[{card_id}]]></CardId><IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[{code}]]></UserCardCode>\
         <FriendUserName><![CDATA[]]></FriendUserName><OuterId>{outer_id}</OuterId><OldUserCardCode><![CDATA[]]></OldUserCardCode>\
         <IsRestoreMemberCard>0</IsRestoreMemberCard><IsRecommendByFriend>0</IsRecommendByFriend>\
         <SourceScene><![CDATA[SOURCE_SCENE_QRCODE]]></SourceScene></xml>"
    )
}

/// One request, ready to write, and which distinct event it carries.
#[derive(Clone)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub event: usize,
}

/// Build the raw HTTP/1.1 POST of `body` to `path_and_query`.
pub fn post(host: &str, path_and_query: &str, body: &str, event: usize) -> Prepared {
    let bytes = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    Prepared { bytes, event }
}

#[derive(Debug, Default)]
pub struct Report {
    pub sent: usize,
    pub ok: usize,
    pub non_200: usize,
    pub errors: usize,
    pub timeouts: usize,
    pub elapsed: Duration,
    /// Latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Events answered 200 `success` at least once.
    pub acknowledged: Vec<bool>,
}

impl Report {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        Duration::from_micros(u64::from(
            self.latencies_us[rank.min(self.latencies_us.len() - 1)],
        ))
    }

    pub fn throughput(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct Outcome {
    latencies_us: Vec<u32>,
    ok_events: Vec<usize>,
    ok: usize,
    non_200: usize,
    errors: usize,
    timeouts: usize,
}

/// Send every request once over `concurrency` connections to `addr`, stopping early after `limit`.
pub async fn run(
    addr: &str,
    requests: Arc<Vec<Prepared>>,
    events: usize,
    concurrency: usize,
    timeout: Duration,
    limit: Option<Duration>,
) -> Report {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (addr, requests, next) = (addr.to_owned(), requests.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            connection(&addr, &requests, &next, timeout, started, limit).await
        }));
    }
    let mut report = Report {
        acknowledged: vec![false; events],
        ..Report::default()
    };
    for task in tasks {
        let Ok(outcome) = task.await else {
            report.errors += 1;
            continue;
        };
        report.latencies_us.extend(outcome.latencies_us);
        for event in outcome.ok_events {
            report.acknowledged[event] = true;
        }
        report.ok += outcome.ok;
        report.non_200 += outcome.non_200;
        report.errors += outcome.errors;
        report.timeouts += outcome.timeouts;
    }
    report.elapsed = started.elapsed();
    report.sent = report.ok + report.non_200 + report.errors + report.timeouts;
    report.latencies_us.sort_unstable();
    report
}

async fn connection(
    addr: &str,
    requests: &[Prepared],
    next: &AtomicUsize,
    timeout: Duration,
    started: Instant,
    limit: Option<Duration>,
) -> Outcome {
    let mut out = Outcome {
        latencies_us: Vec::with_capacity(requests.len() / 8 + 16),
        ok_events: Vec::new(),
        ok: 0,
        non_200: 0,
        errors: 0,
        timeouts: 0,
    };
    let mut stream: Option<TcpStream> = None;
    let mut buf = vec![0u8; 4096];
    loop {
        if limit.is_some_and(|l| started.elapsed() >= l) {
            return out;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = requests.get(i) else {
            return out;
        };
        if stream.is_none() {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                }
                Err(_) => {
                    out.errors += 1;
                    continue;
                }
            }
        }
        let Some(s) = stream.as_mut() else { continue };
        let sent_at = Instant::now();
        match tokio::time::timeout(timeout, exchange(s, &request.bytes, &mut buf)).await {
            Ok(Ok((status, success))) => {
                out.latencies_us
                    .push(u32::try_from(sent_at.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status == 200 && success {
                    out.ok += 1;
                    out.ok_events.push(request.event);
                } else {
                    out.non_200 += 1;
                    // A refused request may have closed the connection: start a fresh one.
                    stream = None;
                }
            }
            Ok(Err(_)) => {
                out.errors += 1;
                stream = None;
            }
            Err(_) => {
                out.timeouts += 1;
                stream = None;
            }
        }
    }
}

/// Write one request and read its answer: (status, body == "success").
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
    stream.write_all(request).await?;
    let mut filled = 0;
    loop {
        filled += read_more(stream, buf, filled).await?;
        if let Some(head_end) = find(&buf[..filled], b"\r\n\r\n") {
            let head = &buf[..head_end];
            let status = parse_status(head).ok_or(std::io::ErrorKind::InvalidData)?;
            let length = content_length(head).ok_or(std::io::ErrorKind::InvalidData)?;
            let body_start = head_end + 4;
            while filled < body_start + length {
                filled += read_more(stream, buf, filled).await?;
            }
            return Ok((status, &buf[body_start..body_start + length] == b"success"));
        }
    }
}

/// Read more of the answer after the `filled` bytes already in `buf`, growing it when full.
async fn read_more(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    filled: usize,
) -> std::io::Result<usize> {
    if filled == buf.len() {
        buf.resize(buf.len() * 2, 0);
    }
    match stream.read(&mut buf[filled..]).await? {
        0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
        n => Ok(n),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_status(head: &[u8]) -> Option<u16> {
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}

fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Peak resident memory (VmHWM) of a process, in KiB, from /proc.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The pushes of a run, as `--events`, `--duplicates` and `--channels` say.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct PlanArgs {
    /// Distinct `user_get_card` events.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Share of exact redeliveries added on top (0.1 = 10%).
    #[arg(long, default_value_t = 0.1)]
    pub duplicates: f64,
    /// OuterId channels the events are spread over.
    #[arg(long, default_value_t = 20)]
    pub channels: usize,
}

impl PlanArgs {
    pub fn plan(&self) -> PushPlan {
        PushPlan {
            events: self.events,
            channels: self.channels.max(1),
            duplicates: self.duplicates,
        }
    }
}

/// Where sealed requests go: the callback's host and path, and the mode to seal in.
pub struct Target<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub mode: Mode,
}

/// The run's requests, each push sealed as WeChat would (before any clock starts), with the
/// plan's redeliveries shuffled in; how many of them are redeliveries.
pub fn sealed_requests(
    account: &Account,
    target: &Target<'_>,
    plan: PushPlan,
    run_id: &str,
    card_id: &str,
    now: i64,
) -> anyhow::Result<(Vec<Prepared>, usize)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut requests = Vec::with_capacity(plan.events);
    for (i, xml) in plan.events(run_id, card_id, now) {
        let random: [u8; 16] = rng.gen();
        let nonce = rng.gen_range(100_000_000u32..999_999_999).to_string();
        let sealed = account
            .sealer()
            .seal(&xml, target.mode, now, &nonce, &random)?;
        requests.push(post(
            target.host,
            &format!("{}?{}", target.path, sealed.query),
            &sealed.body,
            i,
        ));
    }
    Ok(plan.with_redeliveries(requests, &mut rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_answers() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\ncontent-type: text/plain";
        assert_eq!(parse_status(head), Some(200));
        assert_eq!(content_length(head), Some(7));
        let report = Report {
            latencies_us: (1..=1000).collect(),
            ..Report::default()
        };
        assert_eq!(report.percentile(50.0), Duration::from_micros(501));
        assert_eq!(report.percentile(99.9), Duration::from_micros(999));
        assert_eq!(report.percentile(100.0), Duration::from_micros(1000));
    }
}
