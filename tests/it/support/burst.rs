//! A burst of distinct encrypted `user_get_card` pushes from several clients that retry unanswered
//! pushes as WeChat does, and the checks that follow a burst through crashes: every event stored
//! once, bindings and counters equal to a recount from `card_event`, every job done, each code
//! activated once (a repeat only where a crash cut an answer off).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cardhook::accounts::{Account, Accounts};
use cardhook::wechat::Mode;
use entity::{card_binding, card_event, channel_day, domain_event, job};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio::sync::RwLock;
use tokio::task::JoinHandle;

use super::fake_wechat::FakeWeChat;
use super::fixtures::get_card_xml;

/// What the burst sends: `events` codes of `card_id` over `channels` OuterIds; every
/// `redeliver_every`-th event is delivered again after its answer (0: none), as WeChat does when
/// an answer is lost on the way.
#[derive(Clone, Copy)]
pub struct BurstSpec {
    pub events: usize,
    pub clients: usize,
    pub channels: usize,
    pub card_id: &'static str,
    pub redeliver_every: usize,
}

/// A fake WeChat API for a burst: one access_token, activations answered after `latency`.
pub async fn activation_fake(latency: Duration) -> FakeWeChat {
    let fake = FakeWeChat::start().await;
    fake.token_ok("T", 7200, None).await;
    fake.activate_delay(latency, 100_000).await;
    fake
}

/// The safe-mode test account the burst seals as.
pub fn safe_account() -> Arc<Account> {
    let (appid, token) = super::account_for(Mode::Safe);
    let accounts = Accounts::from_settings(&[super::account_settings(
        appid,
        token,
        Some(super::KEY_B),
        Mode::Safe,
    )])
    .unwrap();
    accounts.get(appid).unwrap().clone()
}

/// Worker settings for a burst through crashes (a 4 s lease, quick retries, and a 5 s token-refresh lease:
/// a process killed while refreshing holds it that long) and its member card.
pub fn worker_config(spec: BurstSpec) -> String {
    format!(
        "[worker]\nlease_secs = 4\napi_timeout_ms = 500\npoll_interval_ms = 100\ntoken_lease_secs = 5\nretry_schedule_secs = [1, 1, 1, 1, 1, 1, 1, 1]\n[[cards]]\ncard_id = \"{}\"\nmembership_number = \"M{{seq:6}}\"\n",
        spec.card_id
    )
}

/// The running clients; the target URL can be changed while they run (a restarted server).
pub struct Burst {
    pub url: Arc<RwLock<String>>,
    pub acknowledged: Arc<AtomicUsize>,
    pub retried: Arc<AtomicUsize>,
    /// The codes answered `success`, as each answer arrives.
    pub acknowledged_codes: Arc<std::sync::Mutex<Vec<String>>>,
    next: Arc<AtomicUsize>,
    clients: Vec<JoinHandle<()>>,
}

impl Burst {
    pub fn start(spec: BurstSpec, account: &Arc<Account>, url: String) -> Self {
        let url = Arc::new(RwLock::new(url));
        let next = Arc::new(AtomicUsize::new(0));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let retried = Arc::new(AtomicUsize::new(0));
        let acknowledged_codes: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let clients = (0..spec.clients)
            .map(|_| {
                let (account, url, next, acknowledged, retried, codes) = (
                    account.clone(),
                    url.clone(),
                    next.clone(),
                    acknowledged.clone(),
                    retried.clone(),
                    acknowledged_codes.clone(),
                );
                tokio::spawn(async move {
                    let http = reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .build()
                        .unwrap();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= spec.events {
                            return;
                        }
                        let code = format!("{i:06}");
                        let xml = get_card_xml(
                            &format!("o{code}"),
                            1_700_000_000 + (i as i64 % 50),
                            spec.card_id,
                            &code,
                            (i % spec.channels) as i64,
                            "",
                        );
                        let deliveries =
                            if spec.redeliver_every > 0 && i % spec.redeliver_every == 0 {
                                2
                            } else {
                                1
                            };
                        let (mut answered, mut failures) = (0, 0);
                        // WeChat retries an unanswered push (new timestamp and nonce, same
                        // message) until it is answered.
                        while answered < deliveries {
                            let now = chrono::Utc::now().timestamp();
                            let nonce = (answered + failures).to_string();
                            let sealed = account
                                .sealer()
                                .seal(&xml, Mode::Safe, now, &nonce, &[3; 16])
                                .unwrap();
                            let target = url.read().await.clone();
                            let answer = http
                                .post(format!("{target}?{}", sealed.query))
                                .body(sealed.body)
                                .send()
                                .await;
                            let success = match answer {
                                Ok(r) => {
                                    r.status() == 200
                                        && r.text().await.unwrap_or_default() == "success"
                                }
                                Err(_) => false,
                            };
                            if success {
                                if answered == 0 {
                                    codes.lock().unwrap().push(code.clone());
                                }
                                answered += 1;
                                continue;
                            }
                            failures += 1;
                            assert!(failures < 2000, "push {code} never answered");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                        if failures > 0 {
                            retried.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Self {
            url,
            acknowledged,
            retried,
            acknowledged_codes,
            next,
            clients,
        }
    }

    /// Take no new events: each client finishes the push it is sending (until acknowledged).
    pub fn stop(&self) {
        self.next.fetch_max(usize::MAX / 2, Ordering::SeqCst);
    }

    /// Wait for every client; returns (acknowledged, acknowledged only after a retry).
    pub async fn finish(self) -> (usize, usize) {
        for client in self.clients {
            client.await.unwrap();
        }
        (
            self.acknowledged.load(Ordering::Relaxed),
            self.retried.load(Ordering::Relaxed),
        )
    }
}

/// Wait until no job is pending or running; false after `limit`.
pub async fn jobs_settle(db: &DatabaseConnection, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        loop {
            let open = job::Entity::find()
                .filter(job::Column::State.is_in(["pending", "running"]))
                .count(db)
                .await
                .unwrap();
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .is_ok()
}

/// The checks after a burst whose clients all finished; returns (activation calls, repeated calls).
pub async fn assert_consistent(
    db: &DatabaseConnection,
    spec: BurstSpec,
    fake: &FakeWeChat,
    max_repeated: usize,
) -> (usize, usize) {
    // Every acknowledged push exactly once (clients retried until acknowledged: all of them).
    let events = card_event::Entity::find()
        .filter(card_event::Column::CardId.eq(spec.card_id))
        .all(db)
        .await
        .unwrap();
    assert_eq!(events.len(), spec.events, "stored events");
    let mut by_code: HashMap<String, usize> = HashMap::new();
    for e in &events {
        *by_code.entry(e.code.clone().unwrap()).or_default() += 1;
    }
    assert!(by_code.values().all(|n| *n == 1));
    // Bindings and counters equal what the stored events imply, recomputed from card_event.
    assert_eq!(
        card_binding::Entity::find().count(db).await.unwrap() as usize,
        spec.events
    );
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for e in &events {
        *expected.entry(e.outer_id.clone()).or_default() += 1;
    }
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    let mut activated = 0;
    for row in channel_day::Entity::find().all(db).await.unwrap() {
        *got.entry(row.outer_id).or_default() += row.got;
        activated += row.activated;
    }
    assert_eq!(got, expected, "channel counters");
    // Every job done, every binding activated, counted once.
    let jobs = job::Entity::find().all(db).await.unwrap();
    assert_eq!(jobs.len(), spec.events);
    assert!(
        jobs.iter().all(|j| j.state == "done"),
        "{:?}",
        jobs.iter().find(|j| j.state != "done")
    );
    assert_eq!(activated as usize, spec.events);
    let active = card_binding::Entity::find()
        .filter(card_binding::Column::Status.eq("activated"))
        .count(db)
        .await
        .unwrap();
    assert_eq!(active as usize, spec.events);
    // A second activation of a code only where a crash cut an activation's answer off.
    let calls = fake.activate_requests().await;
    let mut per_code: HashMap<String, usize> = HashMap::new();
    for (body, _) in &calls {
        *per_code
            .entry(body["code"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let repeated: usize = per_code.values().map(|n| n - 1).sum();
    assert_eq!(per_code.len(), spec.events);
    assert!(
        repeated <= max_repeated,
        "{repeated} repeated activations (at most {max_repeated} were in flight at the crashes)"
    );
    (calls.len(), repeated)
}

/// A reader of the feed that keeps the last seq it handled, as a merchant's would: it polls
/// `domain_event` after its cursor while a burst runs (through crashes and across instances).
pub struct FeedFollower {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<Vec<domain_event::Model>>,
}

impl FeedFollower {
    pub fn start(db_url: &str) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (url, stopping) = (db_url.to_owned(), stop.clone());
        let task = tokio::spawn(async move {
            let db = sea_orm::Database::connect(&url).await.unwrap();
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                // Read once more after the stop, so the last page is the end of the feed.
                let last_round = stopping.load(Ordering::SeqCst);
                let page = domain_event::Entity::find()
                    .filter(domain_event::Column::Seq.gt(cursor))
                    .order_by_asc(domain_event::Column::Seq)
                    .limit(500)
                    .all(&db)
                    .await;
                match page {
                    Ok(page) if !page.is_empty() => {
                        cursor = page.last().unwrap().seq;
                        seen.extend(page);
                    }
                    Ok(_) if last_round => return seen,
                    // Empty, or the database busy a moment (a checkpoint, a kill): poll again.
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        });
        Self { stop, task }
    }

    /// Every event the follower read, once everything was recorded.
    pub async fn finish(self) -> Vec<domain_event::Model> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

/// The feed after a burst: one `card.got` per code and one `card.activated` per activation recorded,
/// ids unique, seqs strictly increasing; and a reader that followed it by its cursor while the burst
/// ran saw every event exactly once (a seq committed after a later one would have been stepped over).
pub async fn assert_feed(
    db: &DatabaseConnection,
    spec: BurstSpec,
    followed: &[domain_event::Model],
) {
    let all = domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Seq)
        .all(db)
        .await
        .unwrap();
    let count = |kind: &str| all.iter().filter(|e| e.kind == kind).count();
    assert_eq!(
        count("card.got"),
        spec.events,
        "one card.got per stored push"
    );
    assert_eq!(
        count("card.activated"),
        spec.events,
        "one card.activated per activation recorded"
    );
    let ids: std::collections::HashSet<(&str, &str)> = all
        .iter()
        .map(|e| (e.cause.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(
        ids.len(),
        all.len(),
        "event ids (cause and type) are unique"
    );
    let followed_seqs: Vec<i64> = followed.iter().map(|e| e.seq).collect();
    let all_seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(
        followed_seqs.len(),
        all_seqs.len(),
        "the follower missed or repeated events"
    );
    assert_eq!(followed_seqs, all_seqs);
}
