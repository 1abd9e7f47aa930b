//! Member-card activation: enqueued with the push, run by the worker against the fake WeChat API.

use std::time::Duration;

use cardhook::config::{Activation, CardSettings, Settings};
use cardhook::store::jobs;
use cardhook::wechat::Mode;
use cardhook::worker::outcome::JobOutcome;

use crate::support::backend::{Backend, BOTH};
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::{account_for, member_card, spawn_app_on, TestApp};

const NOW: i64 = 1_800_000_000;

async fn app_with_cards(cards: Vec<CardSettings>, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    app_on(Backend::Sqlite, cards, tweak).await
}

async fn app_on(
    backend: Backend,
    cards: Vec<CardSettings>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_on(backend, |s| {
        s.cards = cards;
        tweak(s);
    })
    .await
}

async fn get_card(app: &TestApp, card_id: &str, code: &str, outer_str: &str) {
    let xml = get_card_xml(&format!("o{code}"), NOW - 60, card_id, code, 0, outer_str);
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
}

fn golden_card() -> CardSettings {
    CardSettings {
        init_bonus: 100,
        init_balance: 200,
        init_bonus_record: Some("旧积分同步".to_owned()),
        init_custom_field_value1: Some("xxxxx".to_owned()),
        background_pic_url: Some("https://mmbiz.qlogo.cn/mmbiz/0?wx_fmt=jpeg".to_owned()),
        activate_begin_time: Some(1_700_000_000),
        activate_end_time: Some(1_900_000_000),
        ..member_card("pMEMBER_GOLDEN", Activation::OnGet, "VIP{seq:6}")
    }
}

#[tokio::test]
async fn a_get_card_push_activates_once_with_the_golden_body() {
    let app = app_with_cards(vec![golden_card()], |_| {}).await;
    let (appid, _) = account_for(Mode::Safe);
    app.fake_wechat.token_ok("TOKEN_A", 7200, None).await;
    app.fake_wechat.activate_ok().await;
    get_card(&app, "pMEMBER_GOLDEN", "900001", "shop_1").await;
    // WeChat redelivers: still one job.
    get_card(&app, "pMEMBER_GOLDEN", "900001", "shop_1").await;
    assert_eq!(app.job_rows().await.len(), 1);
    assert!(
        app.fake_wechat.activate_requests().await.is_empty(),
        "no API call on the request path"
    );

    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::Done]);
    let calls = app.fake_wechat.activate_requests().await;
    assert_eq!(calls.len(), 1);
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/fixtures/wechat_api/activate_request_golden.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        calls[0].0, golden,
        "the activate body drifted from the golden file"
    );
    assert_eq!(calls[0].1, "TOKEN_A");
    let token_calls = app.fake_wechat.token_requests().await;
    assert_eq!(token_calls.len(), 1);
    let token_body: serde_json::Value = serde_json::from_slice(&token_calls[0].body).unwrap();
    assert_eq!(token_body["appid"], appid);
    assert_eq!(token_body["force_refresh"], false);

    let binding = app
        .binding(appid, "pMEMBER_GOLDEN", "900001")
        .await
        .unwrap();
    assert_eq!(binding.status, "activated");
    assert_eq!(binding.membership_number.as_deref(), Some("VIP000001"));
    assert_eq!(binding.activated_at, Some(NOW));
    assert_eq!(app.channel(appid, 0, "shop_1").await.activated, 1);
    assert_eq!(app.job_rows().await[0].state, "done");
    // The next code of the card gets the next sequence number.
    get_card(&app, "pMEMBER_GOLDEN", "900002", "shop_1").await;
    app.drain_jobs(NOW).await;
    let binding = app
        .binding(appid, "pMEMBER_GOLDEN", "900002")
        .await
        .unwrap();
    assert_eq!(binding.membership_number.as_deref(), Some("VIP000002"));
    assert_eq!(
        app.fake_wechat.token_requests().await.len(),
        1,
        "the cached token is reused"
    );
}

#[tokio::test]
async fn only_configured_cards_and_their_trigger_enqueue() {
    let cards = vec![
        member_card("pON_SUBMIT", Activation::OnSubmit, "{openid}"),
        member_card("pNONE", Activation::None, "{code}"),
    ];
    let app = app_with_cards(cards, |_| {}).await;
    get_card(&app, "pUNCONFIGURED", "1", "").await;
    get_card(&app, "pNONE", "2", "").await;
    get_card(&app, "pON_SUBMIT", "3", "").await;
    assert!(app.job_rows().await.is_empty());
    let submit = code_event_xml("submit_membercard_user_info", "o3", NOW, "pON_SUBMIT", "3");
    assert_success(app.push_xml(&submit, Mode::Safe).await).await;
    let jobs = app.job_rows().await;
    assert_eq!(jobs.len(), 1);
    assert!(
        jobs[0].payload.contains("\"membership_number\":\"o3\""),
        "{}",
        jobs[0].payload
    );
}

#[tokio::test]
async fn every_errcode_class_has_its_outcome() {
    let cards = vec![member_card("pC", Activation::OnGet, "{code}")];
    // Token error: the used token is invalidated, a fresh one fetched, the call retried at once.
    let app = app_with_cards(cards.clone(), |_| {}).await;
    app.fake_wechat.token_ok("STALE", 7200, Some(1)).await;
    app.fake_wechat.token_ok("FRESH", 7200, None).await;
    app.fake_wechat
        .activate_errcode_for_token("STALE", 40001)
        .await;
    app.fake_wechat.activate_ok().await;
    get_card(&app, "pC", "1", "").await;
    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::Done]);
    let tokens: Vec<String> = app
        .fake_wechat
        .activate_requests()
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(tokens, vec!["STALE", "FRESH"]);
    assert_eq!(app.fake_wechat.token_requests().await.len(), 2);

    // Transient errors: retry later on the schedule (10 s ± 20%), then succeed.
    for transient in [-1, 45011] {
        let app = app_with_cards(cards.clone(), |_| {}).await;
        app.fake_wechat.token_ok("T", 7200, None).await;
        app.fake_wechat.activate_errcode(transient, 1).await;
        app.fake_wechat.activate_ok().await;
        get_card(&app, "pC", "1", "").await;
        assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::RetryLater]);
        let job = &app.job_rows().await[0];
        assert_eq!(job.state, "pending");
        assert!((NOW + 8..=NOW + 12).contains(&job.run_at), "{}", job.run_at);
        assert!(job
            .last_error
            .as_deref()
            .unwrap()
            .contains(&transient.to_string()));
        assert_eq!(app.drain_jobs(NOW + 5).await, vec![], "not due yet");
        assert_eq!(app.drain_jobs(NOW + 13).await, vec![JobOutcome::Done]);
    }

    // Daily quota: this job and the account's other pending jobs wait until the next day.
    let app = app_with_cards(cards.clone(), |s| s.worker.concurrency = 1).await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_errcode(45009, 1).await;
    get_card(&app, "pC", "1", "").await;
    get_card(&app, "pC", "2", "").await;
    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::Paused]);
    let next_day =
        cardhook::retry_schedule::next_day(NOW, chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    assert!(app
        .job_rows()
        .await
        .iter()
        .all(|j| j.state == "pending" && j.run_at == next_day));

    // Terminal codes: dead at once, unless WeChat says the card is already active.
    for terminal in [40056, 40099, 40116, 40127, 40073, 40078, 45030, 40013] {
        let app = app_with_cards(cards.clone(), |_| {}).await;
        app.fake_wechat.token_ok("T", 7200, None).await;
        app.fake_wechat.activate_errcode(terminal, 1).await;
        app.fake_wechat.userinfo_active(false).await;
        get_card(&app, "pC", "1", "").await;
        assert_eq!(
            app.drain_jobs(NOW).await,
            vec![JobOutcome::Dead],
            "{terminal}"
        );
        let job = &app.job_rows().await[0];
        assert_eq!(job.state, "dead");
        assert!(job
            .last_error
            .as_deref()
            .unwrap()
            .contains(&terminal.to_string()));
        assert_eq!(
            app.binding(account_for(Mode::Safe).0, "pC", "1")
                .await
                .unwrap()
                .status,
            "got"
        );
    }

    // An errcode nobody documented, but the card is already active: the job is done.
    let app = app_with_cards(cards, |_| {}).await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_errcode(40145, 1).await;
    app.fake_wechat.userinfo_active(true).await;
    get_card(&app, "pC", "1", "").await;
    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::Done]);
}

#[tokio::test]
async fn twenty_jobs_share_one_token_refresh() {
    for backend in BOTH {
        let app = app_on(
            backend,
            vec![member_card("pC", Activation::OnGet, "{code}")],
            |s| s.worker.concurrency = 20,
        )
        .await;
        app.fake_wechat.token_ok("T", 7200, None).await;
        app.fake_wechat.activate_ok().await;
        for i in 0..20 {
            get_card(&app, "pC", &format!("{i}"), "").await;
        }
        let outcomes = app.drain_jobs(NOW).await;
        assert_eq!(outcomes, vec![JobOutcome::Done; 20]);
        assert_eq!(app.fake_wechat.token_requests().await.len(), 1);
        assert_eq!(app.fake_wechat.activate_requests().await.len(), 20);
        // Expired an hour later (7200 s minus the 300 s margin): refreshed once more, by one of them.
        for i in 20..40 {
            get_card(&app, "pC", &format!("{i}"), "").await;
        }
        app.drain_jobs(NOW + 7000).await;
        assert_eq!(
            app.fake_wechat.token_requests().await.len(),
            2,
            "{backend:?}"
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_call_loses_its_lease_and_the_job_runs_once() {
    for backend in BOTH {
        let app = app_on(
            backend,
            vec![member_card("pC", Activation::OnGet, "{code}")],
            |_| {},
        )
        .await;
        app.fake_wechat.token_ok("T", 7200, None).await;
        app.fake_wechat.activate_ok().await;
        get_card(&app, "pC", "1", "").await;
        // A worker claims the job and dies before settling it.
        let dead_worker = jobs::claim(&app.db, NOW, 5, 10).await.unwrap();
        assert_eq!(dead_worker.len(), 1);
        assert_eq!(
            app.drain_jobs(NOW + 1).await,
            vec![],
            "the lease still holds"
        );
        assert_eq!(app.drain_jobs(NOW + 6).await, vec![JobOutcome::Done]);
        assert_eq!(app.fake_wechat.activate_requests().await.len(), 1);
        // The dead worker's late write cannot undo the new owner's result.
        assert!(!jobs::complete(
            &app.db,
            dead_worker[0].id,
            &dead_worker[0].claim_token,
            NOW + 7
        )
        .await
        .unwrap());
        assert!(!jobs::bury(
            &app.db,
            dead_worker[0].id,
            &dead_worker[0].claim_token,
            "late",
            NOW + 7
        )
        .await
        .unwrap());
        assert_eq!(app.job_rows().await[0].state, "done");
        let activated = app
            .channel(account_for(Mode::Safe).0, 0, "")
            .await
            .activated;
        assert_eq!(activated, 1, "{backend:?}");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_lost_answer_is_retried_and_counted_once() {
    let app = app_with_cards(vec![member_card("pC", Activation::OnGet, "{code}")], |_| {}).await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    // The first activation succeeds at WeChat but answers after the client gave up (500 ms).
    app.fake_wechat
        .activate_delay(Duration::from_secs(3), 1)
        .await;
    app.fake_wechat.activate_ok().await;
    get_card(&app, "pC", "1", "").await;
    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::RetryLater]);
    assert!(app.job_rows().await[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("timed out"));
    assert_eq!(app.drain_jobs(NOW + 60).await, vec![JobOutcome::Done]);
    assert_eq!(
        app.channel(account_for(Mode::Safe).0, 0, "")
            .await
            .activated,
        1
    );
}

#[tokio::test]
async fn dead_after_the_schedule_then_revived() {
    let app = app_with_cards(vec![member_card("pC", Activation::OnGet, "{code}")], |s| {
        s.worker.retry_schedule_secs = vec![10, 20];
        s.worker.retry_jitter = 0.0;
    })
    .await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_errcode(-1, 3).await;
    app.fake_wechat.activate_ok().await;
    get_card(&app, "pC", "1", "").await;
    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::RetryLater]);
    assert_eq!(app.drain_jobs(NOW + 10).await, vec![JobOutcome::RetryLater]);
    assert_eq!(app.drain_jobs(NOW + 30).await, vec![JobOutcome::Dead]);
    let job = &app.job_rows().await[0];
    assert_eq!((job.state.as_str(), job.attempts), ("dead", 3));
    assert!(job
        .last_error
        .as_deref()
        .unwrap()
        .contains("retries exhausted"));

    assert_eq!(
        jobs::revive(&app.db, Some(job.id), NOW + 40).await.unwrap(),
        1
    );
    assert_eq!(app.drain_jobs(NOW + 40).await, vec![JobOutcome::Done]);
    assert_eq!(app.fake_wechat.activate_requests().await.len(), 4);
}

#[tokio::test]
async fn the_running_worker_wakes_on_a_push() {
    let app = app_with_cards(vec![member_card("pC", Activation::OnGet, "{code}")], |s| {
        s.worker.enabled = true;
        // Only the receiver's notify can wake it in time.
        s.worker.poll_interval_ms = 600_000;
    })
    .await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_ok().await;
    let xml = get_card_xml("oWake", chrono::Utc::now().timestamp(), "pC", "1", 0, "");
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    let appid = account_for(Mode::Safe).0;
    let activated = async {
        loop {
            if app
                .binding(appid, "pC", "1")
                .await
                .is_some_and(|b| b.status == "activated")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), activated)
        .await
        .expect("activated without polling");
    assert_eq!(app.fake_wechat.activate_requests().await.len(), 1);
}

#[tokio::test]
async fn classic_token_endpoint_and_a_dropped_connection() {
    use cardhook::config::TokenEndpoint;
    let app = app_with_cards(vec![member_card("pC", Activation::OnGet, "{code}")], |s| {
        for account in &mut s.accounts {
            account.token_endpoint = TokenEndpoint::Classic;
        }
    })
    .await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_ok().await;
    get_card(&app, "pC", "1", "").await;
    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::Done]);
    let calls = app.fake_wechat.token_requests().await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].url.path(), "/cgi-bin/token");
    let query: Vec<(String, String)> = calls[0]
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(query.contains(&("grant_type".into(), "client_credential".into())));
    assert!(query.contains(&(
        "secret".into(),
        format!("secret-of-{}", account_for(Mode::Safe).0)
    )));

    // An API host that accepts and drops every connection: a transport error, retried later.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let app = app_with_cards(vec![member_card("pC", Activation::OnGet, "{code}")], |s| {
        s.wechat.api_base = base
    })
    .await;
    get_card(&app, "pC", "1", "").await;
    assert_eq!(app.drain_jobs(NOW).await, vec![JobOutcome::RetryLater]);
    let job = &app.job_rows().await[0];
    assert!(
        job.last_error.as_deref().unwrap().contains("unreachable"),
        "{:?}",
        job.last_error
    );
    assert!(
        !job.last_error.as_deref().unwrap().contains("secret-of"),
        "no secret in errors"
    );
}
