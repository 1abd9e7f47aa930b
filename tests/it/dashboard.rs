//! The operator's dashboard (issue 35) through the real admin listener, on a database seeded with
//! sealed pushes and a member bound through the jump page: the sign-in and its cookie, pages that
//! need it, the funnel's numbers and its CSV (the CLI's `stats --format csv`), the members and
//! health pages, a dead job retried, and every refusal (wrong token, bound tries, cross-site
//! POSTs, a missing CSRF token, bad parameters) — at HTTP level and in headless Chromium at a
//! desktop's and a phone's viewport.

use cardhook::wechat::Mode;
use entity::job;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::jump::{jump_app, query, JUMP_CARD};
use crate::members::{holds, import};
use crate::support::browser::Browser;
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::process::{run_cli_ok, write_config};
use crate::support::visitor::{hidden, location};
use crate::support::{account_for, TestApp, ADMIN_TOKEN};

const TABLE: &str = "table-12";
const TABLE_NAME: &str = "门店12号桌";
const POSTER: &str = "poster-9";
const DAY: i64 = 86_400;

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An app holding, through real pushes: today 3 codes through the table (one deleted, one bound
/// to member D-1 through the jump page, whose activation WeChat refuses: a dead job) and 2
/// through the poster; 20 days ago 4 more through the poster. The dead job's id.
async fn seeded() -> (TestApp, i64) {
    let app = jump_app().await;
    let named = json!({"appid": appid(), "outer_str": TABLE, "name": TABLE_NAME});
    let response = app
        .admin_json(reqwest::Method::POST, "/api/v1/channels", &named)
        .await;
    assert_eq!(response.status(), 201);
    let now = chrono::Utc::now().timestamp();
    let pushes = [
        ("oT1", "710001", TABLE, now - 60),
        ("oT2", "710002", TABLE, now - 50),
        ("oT3", "710003", TABLE, now - 40),
        ("oP1", "720001", POSTER, now - 30),
        ("oP2", "720002", POSTER, now - 20),
        ("oP3", "720003", POSTER, now - 20 * DAY),
        ("oP4", "720004", POSTER, now - 20 * DAY),
        ("oP5", "720005", POSTER, now - 20 * DAY),
        ("oP6", "720006", POSTER, now - 20 * DAY),
    ];
    for (openid, code, outer_str, at) in pushes {
        let xml = get_card_xml(openid, at, JUMP_CARD, code, 0, outer_str);
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }
    let deleted = code_event_xml("user_del_card", "oT3", now - 10, JUMP_CARD, "710003");
    assert_success(app.push_xml(&deleted, Mode::Safe).await).await;
    import(
        &app,
        "member_no,phone,name\nD-1,13800138001,李雷\nD-2,13800138002,韩梅梅\n",
    )
    .await;
    let encrypt_code = holds(&app, JUMP_CARD, "710001", "oT1").await;
    app.fake_wechat
        .jump_form_gives("TICKET-D", "13800138001")
        .await;
    let link = app.url(&format!(
        "/h5/{}/activated?{}",
        appid(),
        query(JUMP_CARD, &encrypt_code, "TICKET-D", "oT1")
    ));
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("D-1"));
    // WeChat refuses the activation for good: the job is dead.
    app.fake_wechat.activate_errcode(40013, 1).await;
    app.fake_wechat.userinfo_active(false).await;
    assert_eq!(
        app.drain_jobs(now + 5).await,
        vec![cardhook::worker::outcome::JobOutcome::Dead]
    );
    let dead = app
        .job_rows()
        .await
        .into_iter()
        .find(|j| j.state == "dead")
        .unwrap();
    (app, dead.id)
}

fn admin(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.admin_addr)
}

/// Sign in with `token`; the answer.
async fn sign_in(app: &TestApp, token: &str) -> reqwest::Response {
    client()
        .post(admin(app, "/dashboard/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

/// The `name=value` of the session cookie an answer sets.
fn session_cookie(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(admin(app, path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn signing_in_pages_the_csv_and_a_retry_through_every_refusal() {
    let (app, dead) = seeded().await;

    // Without a session every page leads to the sign-in; the form asks for the token in a body.
    for path in [
        "/dashboard",
        "/dashboard/funnel",
        "/dashboard/members",
        "/dashboard/health",
        "/dashboard/funnel.csv",
    ] {
        let response = client().get(admin(&app, path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(location(&response), "/dashboard/login", "{path}");
    }
    let form = client()
        .get(admin(&app, "/dashboard/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let csp = form.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(form
        .text()
        .await
        .unwrap()
        .contains("method=\"post\" action=\"/dashboard/login\""));

    // A wrong token sets nothing; the right one sets a strict, HTTP-only cookie for /dashboard.
    let wrong = sign_in(&app, "wrong-token-of-24-characters").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.unwrap().contains("令牌不正确"));
    let signed = sign_in(&app, ADMIN_TOKEN).await;
    assert_eq!(signed.status(), 303);
    assert_eq!(location(&signed), "/dashboard/funnel");
    let set = signed.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard",
        "Max-Age=28800",
    ] {
        assert!(set.contains(part), "{part} in {set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    assert!(!set.contains(ADMIN_TOKEN), "the cookie is not the token");
    let cookie = session_cookie(&signed);
    let behind_https = client()
        .post(admin(&app, "/dashboard/login"))
        .header("X-Forwarded-Proto", "https")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert!(behind_https.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Secure"));
    // A cookie changed in any part is no session: a longer life, another nonce, another MAC.
    let (name, value) = cookie.split_once('=').unwrap();
    let parts: Vec<&str> = value.split('.').collect();
    let expires: i64 = parts[0].parse().unwrap();
    let flip = |hex: &str| {
        let last = if hex.ends_with('0') { "1" } else { "0" };
        format!("{}{last}", &hex[..hex.len() - 1])
    };
    for forged in [
        format!("{name}={}.{}.{}", expires + 3600, parts[1], parts[2]),
        format!("{name}={}.{}.{}", parts[0], flip(parts[1]), parts[2]),
        format!("{name}={}.{}.{}", parts[0], parts[1], flip(parts[2])),
    ] {
        assert_eq!(
            page(&app, &forged, "/dashboard/funnel").await.0,
            303,
            "{forged}"
        );
    }
    assert_eq!(
        page(&app, &cookie, "/dashboard/funnel").await.0,
        200,
        "the real one"
    );

    // A sign-in from another site is refused, right token or not.
    for (header, value) in [
        (ORIGIN.as_str(), "http://evil.example"),
        (ORIGIN.as_str(), "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let response = client()
            .post(admin(&app, "/dashboard/login"))
            .header(header, value)
            .form(&[("token", ADMIN_TOKEN)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{header}");
        assert!(response.headers().get(SET_COOKIE).is_none());
    }

    assert!(app.metrics.dashboard("cross_site") >= 4 && app.metrics.dashboard("wrong_token") >= 1);

    // The funnel: each channel's numbers over the last 7 days, then 30.
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let (status, html) = page(&app, &cookie, "/dashboard/funnel").await;
    assert_eq!(status, 200);
    assert!(html.contains(TABLE_NAME) && html.contains(POSTER));
    assert!(
        html.contains("<b id=\"total-got\">5</b>"),
        "3 + 2 this week"
    );
    assert!(html.contains("<b id=\"total-bound\">1</b>"));
    assert!(html.contains("<b id=\"bound-rate\">20.0%</b>"));
    let (_, month) = page(&app, &cookie, "/dashboard/funnel?period=30").await;
    assert!(month.contains("<b id=\"total-got\">9</b>"));

    // Its CSV is `cardhook stats --format csv` of the same period.
    let from = today - chrono::Days::new(29);
    let csv_link = hidden_href(&month, "csv");
    assert_eq!(
        csv_link,
        format!("/dashboard/funnel.csv?from={from}&to={today}")
    );
    let csv = client()
        .get(admin(&app, &csv_link))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let csv = csv.text().await.unwrap();
    let db = format!("sqlite://{}?mode=rwc", app.db_path.display());
    let config = write_config(app.dir.path(), &db, &app.fake_wechat.uri(), "");
    let from_arg = from.to_string();
    let to_arg = today.to_string();
    let cli = run_cli_ok(
        "stats",
        &config,
        &["--from", &from_arg, "--to", &to_arg, "--format", "csv"],
    )
    .await;
    assert_eq!(csv, cli);
    assert!(csv.contains(TABLE_NAME), "{csv}");

    // Members: two imported, one bound; points and balance not yet confirmed by WeChat.
    let (status, members) = page(&app, &cookie, "/dashboard/members").await;
    assert_eq!(status, 200);
    for tile in [
        "<b id=\"members\">2</b>",
        "<b id=\"bound\">1</b>",
        "<b id=\"bound-rate\">50.0%</b>",
        "<b id=\"unchecked\">1</b>",
    ] {
        assert!(members.contains(tile), "{tile}");
    }

    // Bad parameters are a page that says which.
    for bad in [
        "period=8",
        "from=2026-01-01",
        "from=2026-02-01&to=2026-01-01",
        "from=2020-01-01&to=2026-01-01",
    ] {
        let (status, html) = page(&app, &cookie, &format!("/dashboard/funnel?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(html.contains("参数有误"), "{bad}");
    }
    let long = format!("/dashboard/members?card_id={}", "p".repeat(65));
    assert_eq!(page(&app, &cookie, &long).await.0, 400);
    let (status, twice) = page(&app, &cookie, "/dashboard/funnel?period=7&period=30").await;
    assert!(
        status == 400 && twice.contains("参数有误"),
        "a key twice: {status}"
    );

    // No page and no CSV names a customer: no OpenID, no code, no phone number.
    for shown in [&html, &month, &members, &csv] {
        for personal in ["oT1", "oP1", "710001", "720001", "13800138001"] {
            assert!(!shown.contains(personal), "{personal} shown");
        }
    }

    // Health: the dead job with its reason, and a retry form carrying the CSRF token.
    let (status, health) = page(&app, &cookie, "/dashboard/health").await;
    assert_eq!(status, 200);
    assert!(health.contains(&format!("id=\"dead-{dead}\"")) && health.contains("40013"));
    assert!(health.contains("user_get_card") && health.contains("SQLite"));
    for personal in ["oT1", "710001", "13800138001"] {
        assert!(!health.contains(personal), "{personal} on the health page");
    }
    let (status, _) = page(&app, &cookie, "/dashboard/health?retried=x").await;
    assert_eq!(status, 200, "a notice that does not read is no notice");
    let csrf = hidden(&health, "csrf");
    let retry = |origin: Option<&'static str>, cookie: Option<String>, csrf: String| {
        let app_url = admin(&app, &format!("/dashboard/jobs/{dead}/retry"));
        async move {
            let mut request = client().post(app_url).form(&[("csrf", csrf)]);
            if let Some(origin) = origin {
                request = request.header(ORIGIN, origin);
            }
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            request.send().await.unwrap()
        }
    };
    assert_eq!(
        retry(None, None, csrf.clone()).await.status(),
        401,
        "no session"
    );
    assert_eq!(
        retry(None, Some(cookie.clone()), "00".into())
            .await
            .status(),
        403,
        "no CSRF token"
    );
    let other_session = session_cookie(&sign_in(&app, ADMIN_TOKEN).await);
    assert_eq!(
        retry(None, Some(other_session), csrf.clone())
            .await
            .status(),
        403,
        "another session's token"
    );
    let cross = retry(
        Some("http://evil.example"),
        Some(cookie.clone()),
        csrf.clone(),
    )
    .await;
    assert_eq!(cross.status(), 403, "cross-site");
    let state = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            job::Entity::find_by_id(dead)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert_eq!(state(&app).await, "dead", "nothing refused changed the job");
    let done = retry(Some("null"), Some(cookie.clone()), csrf.clone()).await;
    assert_eq!(done.status(), 403, "an opaque Origin");
    let origin: &'static str = Box::leak(format!("http://{}", app.admin_addr).into_boxed_str());
    let done = retry(Some(origin), Some(cookie.clone()), csrf.clone()).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), format!("/dashboard/health?retried={dead}"));
    assert_eq!(state(&app).await, "pending");
    let again = retry(None, Some(cookie.clone()), csrf.clone()).await;
    assert_eq!(
        location(&again),
        format!("/dashboard/health?not_dead={dead}")
    );

    // Sign-out (from the dashboard only) ends the page's session in the browser; wrong tokens are
    // bounded per address.
    let cross_out = client()
        .post(admin(&app, "/dashboard/logout"))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_out.status(), 403);
    assert!(cross_out.headers().get(SET_COOKIE).is_none());
    let out = client()
        .post(admin(&app, "/dashboard/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&out), "/dashboard/login");
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // The wrong token at the start was the first of ten.
    for _ in 1..10 {
        assert_eq!(
            sign_in(&app, "wrong-token-of-24-characters").await.status(),
            401
        );
    }
    let throttled = sign_in(&app, ADMIN_TOKEN).await;
    assert_eq!(
        throttled.status(),
        429,
        "ten wrong tokens: even the right one waits"
    );
    assert!(throttled.headers().get(SET_COOKIE).is_none());
    assert_eq!(app.metrics.dashboard("throttled"), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_pages_read_the_same_on_postgresql() {
    let app =
        crate::support::spawn_app_on(crate::support::backend::Backend::Postgres, |_| {}).await;
    let now = chrono::Utc::now().timestamp();
    for (openid, code) in [("oG1", "730001"), ("oG2", "730002")] {
        let xml = get_card_xml(openid, now - 30, "pPGCARD", code, 0, TABLE);
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }
    import(
        &app,
        "member_no,phone,name\nG-1,13800138021,甲\nG-2,13800138022,乙\nG-3,13800138023,丙\n",
    )
    .await;
    let cookie = session_cookie(&sign_in(&app, ADMIN_TOKEN).await);
    let (status, funnel) = page(&app, &cookie, "/dashboard/funnel").await;
    assert_eq!(status, 200);
    assert!(funnel.contains("<b id=\"total-got\">2</b>"));
    let (status, members) = page(&app, &cookie, "/dashboard/members").await;
    assert_eq!(status, 200, "{members}");
    assert!(
        members.contains("<b id=\"members\">3</b>") && members.contains("<b id=\"bound\">0</b>")
    );
    assert!(
        members.contains("data-measure=\"imported\"") && members.contains(">3</text>"),
        "three imported today"
    );
    let (status, health) = page(&app, &cookie, "/dashboard/health").await;
    assert_eq!(status, 200, "{health}");
    assert!(health.contains("PostgreSQL") && health.contains("user_get_card"));
    app.shutdown().await;
}

/// The `href` of the element with `id` in `page`, unescaped.
fn hidden_href(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\" href=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no #{id}")) + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].replace("&amp;", "&")
}

/// The funnel chart's value of `measure` for the channel labelled `label`, read from the SVG.
async fn bar_value(browser: &Browser, label: &str, measure: &str) -> i64 {
    let script = format!(
        "var labels = Array.from(document.querySelectorAll('#funnel-chart text.label')).map(t => t.textContent);\
         var row = labels.indexOf({label:?});\
         if (row < 0) return null;\
         var v = document.querySelector('#funnel-chart text.value[data-row=\"' + row + '\"][data-measure=\"{measure}\"]');\
         return v ? Number(v.textContent) : null;"
    );
    browser
        .run(&script)
        .await
        .as_i64()
        .unwrap_or_else(|| panic!("no {measure} bar for {label}"))
}

/// Type `token` into the sign-in form and send it.
async fn type_token(browser: &Browser, token: &str) {
    let field = browser.find("#token").await;
    browser.type_into(&field, token).await;
    browser.click(&browser.find("#sign-in").await).await;
}

/// Keep a screenshot of the page as `name` (target/tmp/), after checking it has no sideways scroll.
async fn keep(browser: &Browser, name: &str) {
    let fits = browser
        .run("return [window.innerWidth, document.documentElement.scrollWidth];")
        .await;
    assert!(
        fits[1].as_f64() <= fits[0].as_f64(),
        "{name} fits its screen: {fits}"
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(shots.join(name), browser.screenshot().await).unwrap();
}

#[tokio::test]
async fn in_a_real_browser_the_operator_signs_in_reads_the_funnel_and_retries_a_dead_job() {
    let (app, dead) = seeded().await;
    let browser = Browser::desktop().await;

    // No session: the sign-in; a wrong token says so; the right one opens the funnel.
    browser.goto(&admin(&app, "/dashboard/funnel")).await;
    assert!(browser.url().await.ends_with("/dashboard/login"));
    type_token(&browser, "wrong-token-of-24-characters").await;
    let message = browser.find("#message").await;
    assert_eq!(browser.text(&message).await, "令牌不正确。");
    keep(&browser, "dashboard-login.png").await;
    type_token(&browser, ADMIN_TOKEN).await;
    browser.find("#funnel-chart").await;
    assert!(browser.url().await.ends_with("/dashboard/funnel"));

    // The bars carry each channel's numbers (this week), Chinese names and all.
    assert_eq!(bar_value(&browser, TABLE_NAME, "got").await, 3);
    assert_eq!(bar_value(&browser, TABLE_NAME, "bound").await, 1);
    assert_eq!(bar_value(&browser, TABLE_NAME, "deleted").await, 1);
    assert_eq!(bar_value(&browser, POSTER, "got").await, 2);
    let trend = browser
        .run("return Array.from(document.querySelectorAll('#trend-chart polyline.series')).map(p => [p.dataset.label, Number(p.dataset.total)]);")
        .await;
    assert_eq!(trend, json!([[TABLE_NAME, 3], [POSTER, 2]]));
    keep(&browser, "dashboard-funnel.png").await;

    // The period switch: the last 30 days hold the poster's older codes too.
    browser.click(&browser.find("#period-30").await).await;
    for _ in 0..50 {
        if browser.url().await.contains("period=30") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.find("#funnel-chart").await;
    assert_eq!(bar_value(&browser, POSTER, "got").await, 6);
    assert_eq!(bar_value(&browser, TABLE_NAME, "got").await, 3);
    // The table sorts by a column on a click: by got, largest first, then smallest.
    let first = "return document.querySelector('#channels tbody tr td.channel').textContent;";
    let got = browser.find("#channels th:nth-child(4)").await;
    browser.click(&got).await;
    assert_eq!(browser.run(first).await, json!(POSTER));
    browser.click(&got).await;
    assert_eq!(browser.run(first).await, json!(TABLE_NAME));

    // Members.
    browser.goto(&admin(&app, "/dashboard/members")).await;
    let bound = browser.find("#bound").await;
    assert_eq!(browser.text(&bound).await, "1");
    keep(&browser, "dashboard-members.png").await;

    // Health: the dead job, retried after a confirmation.
    browser.goto(&admin(&app, "/dashboard/health")).await;
    let row = browser.find(&format!("#dead-{dead} button")).await;
    keep(&browser, "dashboard-health.png").await;
    browser.click(&row).await;
    let asked = browser.accept_dialog().await;
    assert!(asked.contains(&dead.to_string()), "{asked}");
    let notice = browser.find("#notice").await;
    assert!(browser.text(&notice).await.contains("已重新排队"));
    let job = job::Entity::find_by_id(dead)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, "pending");
    browser.close().await;

    // At a phone's width the funnel still fits: charts scroll inside their box, tables too.
    let phone = Browser::phone().await;
    phone.goto(&admin(&app, "/dashboard/login")).await;
    type_token(&phone, ADMIN_TOKEN).await;
    phone.find("#funnel-chart").await;
    assert_eq!(bar_value(&phone, TABLE_NAME, "got").await, 3);
    keep(&phone, "dashboard-funnel-phone.png").await;
    phone.close().await;
    app.shutdown().await;
}
