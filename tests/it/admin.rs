//! The admin listener: bearer auth, statistics (JSON = CSV = CLI), bindings with pagination, jobs,
//! health and readiness, metrics, and the OpenAPI description checked against real answers.

use cardhook::config::Activation;
use cardhook::wechat::Mode;
use serde_json::Value;

use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::{
    account_for, assert_rejected, spawn_app, spawn_app_with, TestApp, ADMIN_TOKEN,
};

async fn seed(app: &TestApp) {
    let pushes = [
        ("oA", "1001", 0, "shop_7"),
        ("oB", "1002", 0, "shop_7"),
        ("oC", "1003", 42, ""),
        ("oA", "1004", 0, "article"),
    ];
    for (i, (openid, code, outer_id, outer_str)) in pushes.into_iter().enumerate() {
        let xml = get_card_xml(
            openid,
            1_714_494_600 + i as i64 * 86_400,
            "pCARD",
            code,
            outer_id,
            outer_str,
        );
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }
}

#[tokio::test]
async fn every_route_but_healthz_needs_the_token() {
    let app = spawn_app().await;
    let url = |p: &str| format!("http://{}{p}", app.admin_addr);
    let healthz = app.client.get(url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    for path in [
        "/readyz",
        "/metrics",
        "/api/v1/stats/channels",
        "/api/v1/jobs",
        "/api/v1/openapi.json",
        "/api/v1/users/o/codes",
    ] {
        assert_rejected(
            app.client.get(url(path)).send().await.unwrap(),
            401,
            "unauthorized",
        )
        .await;
        let wrong = app
            .client
            .get(url(path))
            .bearer_auth(ADMIN_TOKEN.to_uppercase())
            .send()
            .await
            .unwrap();
        assert_rejected(wrong, 401, "unauthorized").await;
        let basic = app
            .client
            .get(url(path))
            .header("Authorization", format!("Basic {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_rejected(basic, 401, "unauthorized").await;
        assert_eq!(app.admin_get(path).await.status(), 200, "{path}");
        // The scheme is case-insensitive (RFC 7235).
        let lower = app
            .client
            .get(url(path))
            .header("Authorization", format!("bearer {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(lower.status(), 200, "{path}");
    }

    let open = spawn_app_with(|s| s.admin.token = None).await;
    let response = open.admin_get("/api/v1/stats/channels").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("admin.token is not configured"),
        "{body}"
    );
}

#[tokio::test]
async fn json_csv_and_the_cli_agree() {
    let app = spawn_app().await;
    seed(&app).await;
    let appid = account_for(Mode::Safe).0;
    for by in ["channel", "day"] {
        let json: Value = app
            .admin_get(&format!("/api/v1/stats/channels?appid={appid}&by={by}"))
            .await
            .json()
            .await
            .unwrap();
        let csv = app
            .admin_get(&format!(
                "/api/v1/stats/channels?appid={appid}&by={by}&format=csv"
            ))
            .await
            .text()
            .await
            .unwrap();
        let accept = app
            .client
            .get(format!(
                "http://{}/api/v1/stats/channels?appid={appid}&by={by}",
                app.admin_addr
            ))
            .bearer_auth(ADMIN_TOKEN)
            .header("Accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert!(accept.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert_eq!(accept.text().await.unwrap(), csv);
        // Every CSV record is the JSON row, field by field.
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let rows = json["rows"].as_array().unwrap();
        let records: Vec<&str> = lines.collect();
        assert_eq!(records.len(), rows.len());
        for (record, row) in records.iter().zip(rows) {
            for (name, cell) in header.iter().zip(record.split(',')) {
                let expected = match &row[*name] {
                    Value::String(s) => s.clone(),
                    // An unregistered channel: no name.
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                assert_eq!(cell, expected, "{name} in {record}");
            }
        }
        // The CLI prints the same JSON for the same query.
        let config = app.dir.path().join("admin-cli.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"sqlite://{}?mode=rwc\"\n",
                app.db_path.display()
            ),
        )
        .unwrap();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_cardhook"))
            .args([
                "stats",
                "--config",
                config.to_str().unwrap(),
                "--appid",
                appid,
                "--by",
                by,
                "--format",
                "json",
            ])
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
        let cli: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(cli, json, "by={by}");
    }
    let json: Value = app
        .admin_get("/api/v1/stats/channels?from=2024-05-02&to=2024-05-03")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["totals"]["got"], 2);
    assert_eq!(json["totals"]["users"], 2);
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let app = spawn_app().await;
    let cases = [
        ("/api/v1/stats/channels?from=2024-13-01", "from"),
        ("/api/v1/stats/channels?to=yesterday", "to"),
        (
            "/api/v1/stats/channels?from=2024-05-03&to=2024-05-01",
            "from",
        ),
        ("/api/v1/stats/channels?by=week", "by"),
        ("/api/v1/stats/channels?format=xml", "format"),
        ("/api/v1/users/o/codes?limit=0", "limit"),
        ("/api/v1/users/o/codes?limit=abc", "query"),
        ("/api/v1/users/o/codes?cursor=not-a-cursor!", "cursor"),
        ("/api/v1/jobs?state=sleeping", "state"),
    ];
    for (path, name) in cases {
        let response = app.admin_get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_param");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{name}`")),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn bindings_and_pagination() {
    let app = spawn_app().await;
    for i in 0..5 {
        let xml = get_card_xml(
            "oPAGED",
            1_700_000_000 + i,
            "pCARD",
            &format!("77{i}"),
            0,
            "",
        );
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }
    let binding: Value = app
        .admin_get("/api/v1/cards/pCARD/codes/772")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (binding["openid"].as_str(), binding["status"].as_str()),
        (Some("oPAGED"), Some("got"))
    );
    assert_rejected(
        app.admin_get("/api/v1/cards/pCARD/codes/999").await,
        404,
        "not_found",
    )
    .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/api/v1/users/oPAGED/codes?limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.admin_get(&path).await.json().await.unwrap();
        pages += 1;
        seen.extend(
            page["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["code"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        vec!["774", "773", "772", "771", "770"],
        "newest first, each once"
    );
}

#[tokio::test]
async fn jobs_over_the_api_mirror_the_cli() {
    let app = spawn_app_with(|s| {
        s.cards = vec![crate::support::member_card(
            "pCARD",
            Activation::OnGet,
            "{code}",
        )];
    })
    .await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_errcode(40056, 1).await;
    app.fake_wechat.userinfo_active(false).await;
    app.fake_wechat.activate_ok().await;
    seed(&app).await;
    let now = chrono::Utc::now().timestamp();
    app.drain_jobs(now).await;
    let dead: Value = app
        .admin_get("/api/v1/jobs?state=dead")
        .await
        .json()
        .await
        .unwrap();
    let dead = dead["jobs"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    let id = dead[0]["id"].as_i64().unwrap();
    let retried = app.admin_post(&format!("/api/v1/jobs/{id}/retry")).await;
    assert_eq!(retried.status(), 200);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["state"], "pending");
    let again = app.admin_post(&format!("/api/v1/jobs/{id}/retry")).await;
    assert_rejected(again, 409, "conflict").await;
    let missing = app.admin_post("/api/v1/jobs/99999/retry").await;
    assert_rejected(missing, 404, "not_found").await;
    // The API requeued it at the server's clock, which has moved on since `now`.
    app.drain_jobs(chrono::Utc::now().timestamp() + 1).await;
    let done: Value = app
        .admin_get("/api/v1/jobs?state=done")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["jobs"].as_array().unwrap().len(), 4);

    // Metrics moved with the pushes and the jobs, and carry no code or OpenID.
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    let appid = account_for(Mode::Safe).0;
    for line in [
        format!("cardhook_pushes_total{{appid=\"{appid}\",event=\"user_get_card\",outcome=\"stored\"}} 4"),
        "cardhook_jobs{state=\"done\"} 4".to_owned(),
        "cardhook_jobs{state=\"dead\"} 0".to_owned(),
        "cardhook_activations_total{errcode=\"0\",outcome=\"ok\"} 4".to_owned(),
        "cardhook_activations_total{errcode=\"40056\",outcome=\"error\"} 1".to_owned(),
        format!("cardhook_token_refreshes_total{{appid=\"{appid}\",credential=\"access_token\"}} 1"),
        "cardhook_commit_duration_seconds_count 4".to_owned(),
        // Four pushes are far from a WAL restart.
        "cardhook_sqlite_wal_restart_seconds_count 0".to_owned(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in\n{metrics}");
    }
    assert!(metrics.contains("cardhook_build_info{version="));
    assert!(metrics.contains("cardhook_push_duration_seconds_bucket"));
    assert!(metrics
        .lines()
        .any(|l| l.starts_with("cardhook_sqlite_wal_pages ")));
    // Each push was answered after an fsync of the WAL, and the fsyncs were timed.
    let syncs = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cardhook_sqlite_wal_sync_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(syncs.is_some_and(|n| n >= 1), "{syncs:?} in\n{metrics}");
    for private in ["1001", "oA", "oB", "pCARD", "secret-of"] {
        assert!(!metrics.contains(private), "{private} in metrics");
    }
}

#[tokio::test]
async fn readiness_follows_the_database_file() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    assert_eq!(app.admin_get("/readyz").await.status(), 200);
    std::fs::set_permissions(&app.db_path, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert_rejected(app.admin_get("/readyz").await, 503, "not_ready").await;
    std::fs::set_permissions(&app.db_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(app.admin_get("/readyz").await.status(), 200);
    std::fs::remove_file(&app.db_path).unwrap();
    assert_rejected(app.admin_get("/readyz").await, 503, "not_ready").await;
    assert_eq!(
        app.admin_get("/healthz").await.status(),
        200,
        "alive all the same"
    );
}

/// An admin API answer with its status, checked against what the generated OpenAPI document
/// (`cardhook::http::openapi`) says for `verb` `route` and that status.
pub(crate) async fn documented(
    response: reqwest::Response,
    route: &str,
    verb: &str,
) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let spec = cardhook::http::openapi::document();
    let schema = &spec["paths"][route][verb]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(!schema.is_null(), "{verb} {route} {status} is documented");
    check(spec, schema, &body, route);
    (status, body)
}

/// A minimal OpenAPI 3.1 schema check of an answer: types (a list of them too, `null` among
/// them), required properties, no property the schema does not name, arrays, `$ref`, `oneOf`,
/// `anyOf` and `allOf`.
pub(crate) fn check(spec: &Value, schema: &Value, value: &Value, at: &str) {
    if let Err(problem) = conforms(spec, schema, value, at) {
        panic!("{problem}");
    }
}

fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return conforms(spec, &spec["components"]["schemas"][name], value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema[key].as_array() {
            let matching = branches
                .iter()
                .filter(|b| conforms(spec, b, value, at).is_ok())
                .count();
            if matching == 0 || (key == "oneOf" && matching > 1) {
                return Err(format!("{at}: {matching} branches of {key} match {value}"));
            }
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = schema.clone();
        for part in parts {
            let part = match part["$ref"].as_str() {
                Some(r) => &spec["components"]["schemas"][r.rsplit('/').next().unwrap()],
                None => part,
            };
            for (k, v) in part["properties"].as_object().into_iter().flatten() {
                merged["properties"][k] = v.clone();
            }
            let mut required = merged["required"].as_array().cloned().unwrap_or_default();
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
            merged["required"] = required.into();
            if merged["type"].is_null() {
                merged["type"] = part["type"].clone();
            }
        }
        merged.as_object_mut().unwrap().remove("allOf");
        return conforms(spec, &merged, value, at);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() => return Ok(()),
        _ if schema
            .as_object()
            .is_some_and(|o| !o.contains_key("properties")) =>
        {
            return Ok(())
        }
        _ => vec!["object"],
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let integer_as_number = kind == "integer" && types.contains(&"number");
    if !(types.contains(&kind) || integer_as_number) {
        return Err(format!("{at}: {kind} {value} where the spec says {schema}"));
    }
    match value {
        Value::Object(object) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap();
                if !object.contains_key(key) {
                    return Err(format!("{at}: missing required `{key}`"));
                }
            }
            for (key, v) in object {
                match schema["properties"].get(key) {
                    Some(property) => conforms(spec, property, v, &format!("{at}.{key}"))?,
                    None if schema["additionalProperties"] == true => {}
                    None => return Err(format!("{at}: `{key}` is not in the spec")),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                conforms(spec, &schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The admin paths of issue 8, whose answers `distribution.rs` checks against the spec.
pub(crate) const DISTRIBUTION_PATHS: [&str; 11] = [
    "/api/v1/channels",
    "/api/v1/channels/qrcode",
    "/api/v1/channels/{id}/qrcode.png",
    "/api/v1/channels/landingpage",
    "/api/v1/cards/{card_id}/codes/deposit",
    "/api/v1/cards/{card_id}/codes/check",
    "/api/v1/cards/{card_id}/mpnews-html",
    "/api/v1/testwhitelist",
    "/api/v1/jssdk/card-ext",
    "/api/v1/jssdk/card-sign",
    "/api/v1/jssdk/config",
];

#[tokio::test]
async fn the_openapi_description_matches_real_answers() {
    let app = spawn_app().await;
    seed(&app).await;
    let spec: Value = app
        .admin_get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let schema = |path: &str, verb: &str, status: &str| {
        spec["paths"][path][verb]["responses"][status]["content"]["application/json"]["schema"]
            .clone()
    };
    for (csv, status) in [
        ("member_no,phone\nM1,13800000001\nM2,x\n", "200"),
        ("member_no\n", "400"),
    ] {
        let imported = app
            .client
            .post(format!(
                "http://{}/api/v1/members/import?appid=wxsafe0000000001",
                app.admin_addr
            ))
            .bearer_auth(crate::support::ADMIN_TOKEN)
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(imported.status().as_str(), status);
        let body: Value = imported.json().await.unwrap();
        let documented = schema("/api/v1/members/import", "post", status);
        check(&spec, &documented, &body, "/api/v1/members/import");
    }
    let cases = [
        (
            "/api/v1/stats/channels",
            "/api/v1/stats/channels?by=day",
            "200",
        ),
        ("/api/v1/stats/channels", "/api/v1/stats/channels", "200"),
        (
            "/api/v1/cards/{card_id}/codes/{code}",
            "/api/v1/cards/pCARD/codes/1001",
            "200",
        ),
        (
            "/api/v1/cards/{card_id}/codes/{code}",
            "/api/v1/cards/pCARD/codes/nope",
            "404",
        ),
        (
            "/api/v1/users/{openid}/codes",
            "/api/v1/users/oA/codes?limit=1",
            "200",
        ),
        (
            "/api/v1/users/{openid}/codes",
            "/api/v1/users/oA/codes?limit=0",
            "400",
        ),
        ("/api/v1/jobs", "/api/v1/jobs", "200"),
        (
            "/api/v1/members/{member_no}",
            "/api/v1/members/M1?appid=wxsafe0000000001",
            "200",
        ),
        (
            "/api/v1/members/{member_no}",
            "/api/v1/members/NOPE?appid=wxsafe0000000001",
            "404",
        ),
        ("/readyz", "/readyz", "200"),
        ("/healthz", "/healthz", "200"),
    ];
    for (template, path, status) in cases {
        let response = app.admin_get(path).await;
        assert_eq!(response.status().as_str(), status, "{path}");
        let body: Value = response.json().await.unwrap();
        let schema = schema(template, "get", status);
        assert!(!schema.is_null(), "{template} {status} is not documented");
        check(&spec, &schema, &body, path);
    }
    for path in spec["paths"].as_object().unwrap().keys() {
        assert!(
            cases.iter().any(|(t, _, _)| t == path)
                || path == "/metrics"
                || path == "/api/v1/jobs/{id}/retry"
                || path == "/api/v1/members/import"
                // Checked against real answers in distribution.rs (the PNG is decoded there).
                || DISTRIBUTION_PATHS.contains(&path.as_str())
                || crate::catalogue::CATALOGUE_PATHS.contains(&path.as_str())
                || crate::messages::MESSAGE_PATHS.contains(&path.as_str())
                || crate::webhooks::EVENTS_OUT_PATHS.contains(&path.as_str())
                || crate::till::TILL_PATHS.contains(&path.as_str()),
            "{path} unchecked"
        );
    }
}

#[tokio::test]
async fn a_method_a_documented_path_does_not_take_is_405_with_the_methods_it_takes() {
    let app = spawn_app().await;
    let spec: Value = app
        .admin_get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for (path, operations) in paths {
        let mut documented: Vec<String> = operations
            .as_object()
            .unwrap()
            .keys()
            .filter(|verb| ["get", "post", "put", "delete", "patch"].contains(&verb.as_str()))
            .map(|verb| verb.to_uppercase())
            .collect();
        documented.sort();
        // A path's parameters as a value of the right shape (an id is a number).
        let concrete = path
            .replace("{id}", "7")
            .replace("{card_id}", "pX")
            .replace("{code}", "1")
            .replace("{openid}", "oX")
            .replace("{member_no}", "M1")
            .replace("{name}", "n");
        for verb in ["TRACE", "DELETE", "PATCH"] {
            if documented.contains(&verb.to_owned()) {
                continue;
            }
            let response = app
                .client
                .request(
                    reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                    format!("http://{}{concrete}", app.admin_addr),
                )
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 405, "{verb} {path}");
            let allow = response.headers()["allow"].to_str().unwrap().to_owned();
            let mut allowed: Vec<&str> = allow.split(", ").collect();
            allowed.sort();
            assert_eq!(allowed, documented, "{verb} {path}: Allow");
            assert_rejected(response, 405, "method_not_allowed").await;
        }
    }
    // A path the API does not have stays 404.
    assert_rejected(app.admin_get("/api/v1/nothing").await, 404, "not_found").await;
}
