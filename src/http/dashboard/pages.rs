//! The dashboard's pages, server-rendered and pure: each function returns one page's HTML from
//! the figures its handler read. No external assets (the admin listener is often on a closed
//! network): the styles are inline, the one script (`/dashboard/app.js`: sorting, confirmations)
//! comes from the binary. Every value put in a page is escaped.

use std::fmt::Write;

use super::funnel::{Funnel, Period, PERIODS};
use super::params::{Filter, CARD_ID_MAX};
use super::svg::{self, BarRow, Measure, FONTS};
use crate::html::escape;
use crate::store::channel_day::Counts;

const STYLE: &str = "body{margin:0;font-family:{FONTS};background:#f5f6f8;color:#222}\
header{background:#1f2d3d;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center}\
header b{margin-right:1rem}header a{color:#cfe3ff;text-decoration:none}header a.on{color:#fff;font-weight:bold}\
header form{margin-left:auto}header button{background:none;border:1px solid #cfe3ff;color:#cfe3ff;border-radius:.3rem;padding:.2rem .6rem}\
main{max-width:72rem;margin:0 auto;padding:1rem}section{background:#fff;border-radius:.5rem;padding:1rem;margin:0 0 1rem;overflow-x:auto}\
section svg{min-width:34rem}\
h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:0 0 .8rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.35rem .5rem;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th[data-sort]{cursor:pointer;color:#1677ff}\
.tiles{display:flex;flex-wrap:wrap;gap:.8rem}.tile{background:#f5f6f8;border-radius:.4rem;padding:.6rem .9rem;min-width:7rem}\
.tile span{display:block;font-size:.8rem;color:#666}.tile b{font-size:1.4rem}\
.periods a{margin-right:.8rem}.periods a.on{font-weight:bold;color:#222;text-decoration:none}\
form.filter{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-top:.8rem}form.filter label{font-size:.8rem;color:#666;display:flex;flex-direction:column}\
input,select,button{font:inherit;padding:.3rem .5rem}button.danger{color:#c0392b}\
.error{color:#c0392b}.ok{color:#07893f}.muted{color:#888}\
.login{max-width:22rem;margin:4rem auto}.login input{width:100%;box-sizing:border-box;margin:.5rem 0 1rem}";

/// The dashboard's sections, as linked from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Funnel,
    Members,
    Health,
}

/// What every signed-in page shows around its content.
pub struct Frame {
    pub section: Section,
    /// The session's CSRF token (the sign-out form, and any form on the page).
    pub csrf: String,
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · cardhook</title><style>{}</style><script src=\"/dashboard/app.js\" defer></script></head>\
         <body>{body}</body></html>",
        escape(title),
        STYLE.replace("{FONTS}", FONTS)
    )
}

fn framed(frame: &Frame, title: &str, content: &str) -> String {
    let link = |section: Section, href: &str, text: &str| {
        let on = if section == frame.section {
            " class=\"on\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{on}>{text}</a>")
    };
    let header = format!(
        "<header><b>cardhook</b>{}{}{}\
         <form method=\"post\" action=\"/dashboard/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" id=\"logout\">退出</button></form></header>",
        link(Section::Funnel, "/dashboard/funnel", "渠道漏斗"),
        link(Section::Members, "/dashboard/members", "会员"),
        link(Section::Health, "/dashboard/health", "运行状况"),
        escape(&frame.csrf)
    );
    document(
        title,
        &format!("{header}<main><h1>{}</h1>{content}</main>", escape(title)),
    )
}

/// A page saying why a request was refused or failed, with the ways back.
pub fn notice(message: &str) -> String {
    document(
        "cardhook 控制台",
        &format!(
            "<main class=\"login\"><section><h1>cardhook 控制台</h1>\
             <p class=\"error\" id=\"message\">{}</p>\
             <p><a href=\"/dashboard/funnel\">返回控制台</a> · <a href=\"/dashboard/login\">登录</a></p></section></main>",
            escape(message)
        ),
    )
}

/// The sign-in form; `message` says why the last try was refused.
pub fn login(message: Option<&str>) -> String {
    let message = message
        .map(|m| format!("<p class=\"error\" id=\"message\">{}</p>", escape(m)))
        .unwrap_or_default();
    document(
        "登录",
        &format!(
            "<main class=\"login\"><section><h1>cardhook 控制台</h1>{message}\
             <form method=\"post\" action=\"/dashboard/login\"><label for=\"token\">管理令牌（admin.token）</label>\
             <input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" required autofocus>\
             <button type=\"submit\" id=\"sign-in\">登录</button></form></section></main>"
        ),
    )
}

/// The period links and the from–to / account (/ card, when `cards`) form of `path`.
fn period_bar(
    path: &str,
    filter: &Filter,
    period: &Period,
    accounts: &[String],
    cards: bool,
) -> String {
    let mut links = String::from("<div class=\"periods\">");
    for days in PERIODS {
        let on = if filter.days == Some(days) {
            " class=\"on\""
        } else {
            ""
        };
        let _ = write!(
            links,
            "<a id=\"period-{days}\" href=\"{path}?{}\"{on}>近 {days} 天</a>",
            escape(&filter.query(&days.to_string()))
        );
    }
    links.push_str("</div>");
    let mut options = String::from("<option value=\"\">全部公众号</option>");
    for appid in accounts {
        let selected = if filter.appid.as_deref() == Some(appid.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            options,
            "<option value=\"{0}\"{selected}>{0}</option>",
            escape(appid)
        );
    }
    let card = if cards {
        format!(
            "<label>卡券 card_id<input type=\"text\" name=\"card_id\" value=\"{}\" maxlength=\"{}\"></label>",
            escape(filter.card_id.as_deref().unwrap_or_default()),
            CARD_ID_MAX
        )
    } else {
        String::new()
    };
    format!(
        "{links}<form class=\"filter\" method=\"get\" action=\"{path}\">\
         <label>从<input type=\"date\" name=\"from\" id=\"from\" value=\"{}\" required></label>\
         <label>到<input type=\"date\" name=\"to\" id=\"to\" value=\"{}\" required></label>\
         <label>公众号<select name=\"appid\">{options}</select></label>{card}\
         <button type=\"submit\" id=\"apply\">查看</button></form>",
        period.from, period.to,
    )
}

/// The funnel measures drawn as bars, in the funnel's order, with deleted and from-friend beside.
const FUNNEL: [Measure; 6] = [
    Measure {
        name: "got",
        legend: "领取",
        colour: "#07c160",
    },
    Measure {
        name: "activated",
        legend: "激活",
        colour: "#1677ff",
    },
    Measure {
        name: "bound",
        legend: "绑定会员",
        colour: "#722ed1",
    },
    Measure {
        name: "consumed",
        legend: "核销",
        colour: "#fa8c16",
    },
    Measure {
        name: "from_friend",
        legend: "好友赠送",
        colour: "#13c2c2",
    },
    Measure {
        name: "deleted",
        legend: "删除",
        colour: "#bfbfbf",
    },
];
/// The channels drawn as bars (the table lists them all).
pub const BAR_CHANNELS: usize = 15;

fn funnel_values(c: &Counts) -> Vec<i64> {
    vec![
        c.got,
        c.activated,
        c.bound,
        c.consumed,
        c.from_friend,
        c.deleted,
    ]
}

fn rate(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "–".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

fn tile(id: &str, label: &str, value: &str) -> String {
    format!(
        "<div class=\"tile\"><span>{}</span><b id=\"{id}\">{}</b></div>",
        escape(label),
        escape(value)
    )
}

/// The funnel page.
pub fn funnel(
    frame: &Frame,
    filter: &Filter,
    period: &Period,
    accounts: &[String],
    f: &Funnel,
) -> String {
    let t = &f.totals;
    let tiles = [
        tile("total-got", "领取", &t.got.to_string()),
        tile("total-activated", "激活", &t.activated.to_string()),
        tile("total-bound", "绑定会员", &t.bound.to_string()),
        tile("total-consumed", "核销", &t.consumed.to_string()),
        tile("bound-rate", "绑定率（绑定 ÷ 领取）", &rate(t.bound, t.got)),
    ]
    .concat();
    let bars: Vec<BarRow> = f
        .channels
        .iter()
        .take(BAR_CHANNELS)
        .map(|c| BarRow {
            label: c.label.clone(),
            values: funnel_values(&c.counts),
        })
        .collect();
    let chart = svg::bars("funnel-chart", "各渠道漏斗", &FUNNEL, &bars);
    let trend = svg::lines("trend-chart", "每日领取（前五渠道）", &f.days, &f.trend);
    let mut rows = String::new();
    for (i, c) in f.channels.iter().enumerate() {
        let n = |v: i64| format!("<td class=\"n\" data-value=\"{v}\">{v}</td>");
        let _ = write!(
            rows,
            "<tr data-row=\"{i}\"><td class=\"channel\">{}</td><td>{}</td><td>{}</td>{}{}{}{}{}{}{}<td class=\"n\">{}</td></tr>",
            escape(&c.label),
            escape(&c.key.appid),
            escape(&c.key.card_id),
            n(c.counts.got),
            n(c.counts.from_friend),
            n(c.counts.activated),
            n(c.counts.bound),
            n(c.counts.consumed),
            n(c.counts.deleted),
            n(c.counts.revoked),
            rate(c.counts.bound, c.counts.got),
        );
    }
    let csv = format!("/dashboard/funnel.csv?{}", filter.range_query(period));
    let content = format!(
        "<section>{}</section><section><div class=\"tiles\">{tiles}</div></section>\
         <section><h2>各渠道：领取 → 激活 → 绑定会员 → 核销</h2>{chart}</section>\
         <section><h2>每日领取</h2>{trend}</section>\
         <section><h2>渠道明细 <a id=\"csv\" href=\"{}\">下载 CSV</a></h2>\
         <table id=\"channels\"><thead><tr><th data-sort=\"text\">渠道</th><th data-sort=\"text\">公众号</th>\
         <th data-sort=\"text\">卡券</th><th class=\"n\" data-sort=\"num\">领取</th><th class=\"n\" data-sort=\"num\">好友赠送</th>\
         <th class=\"n\" data-sort=\"num\">激活</th><th class=\"n\" data-sort=\"num\">绑定会员</th><th class=\"n\" data-sort=\"num\">核销</th>\
         <th class=\"n\" data-sort=\"num\">删除</th><th class=\"n\" data-sort=\"num\">收回</th><th class=\"n\">绑定率</th></tr></thead>\
         <tbody>{rows}</tbody></table></section>",
        period_bar("/dashboard/funnel", filter, period, accounts, true),
        escape(&csv),
    );
    framed(
        frame,
        &format!("渠道漏斗 {} 至 {}", period.from, period.to),
        &content,
    )
}

/// The members page's figures.
pub struct MembersView {
    pub members: i64,
    pub bound: i64,
    pub in_sync: i64,
    pub drifted: i64,
    /// Per day of the period: (day, imported, bound).
    pub days: Vec<(String, i64, i64)>,
}

const MEMBER_MEASURES: [Measure; 2] = [
    Measure {
        name: "imported",
        legend: "导入会员",
        colour: "#1677ff",
    },
    Measure {
        name: "bound",
        legend: "绑定会员卡",
        colour: "#722ed1",
    },
];

/// The members page.
pub fn members(
    frame: &Frame,
    filter: &Filter,
    period: &Period,
    accounts: &[String],
    v: &MembersView,
) -> String {
    let unchecked = (v.bound - v.in_sync - v.drifted).max(0);
    let tiles = [
        tile("members", "会员", &v.members.to_string()),
        tile("bound", "已绑定会员卡", &v.bound.to_string()),
        tile("bound-rate", "绑定率", &rate(v.bound, v.members)),
        tile("in-sync", "积分余额一致", &v.in_sync.to_string()),
        tile("drifted", "与微信不一致", &v.drifted.to_string()),
        tile("unchecked", "尚未核对", &unchecked.to_string()),
    ]
    .concat();
    let rows: Vec<BarRow> = v
        .days
        .iter()
        .rev()
        .filter(|(_, imported, bound)| imported + bound > 0)
        .map(|(day, imported, bound)| BarRow {
            label: day.clone(),
            values: vec![*imported, *bound],
        })
        .collect();
    let chart = svg::bars("members-chart", "每日导入与绑定", &MEMBER_MEASURES, &rows);
    let content = format!(
        "<section>{}</section><section><div class=\"tiles\">{tiles}</div>\
         <p class=\"muted\">一致：微信最近一次显示的积分和余额（最近的 reconcile、激活或更新回执）与 cardhook 记录相同。\
         不一致的会员可用 <code>cardhook members reconcile --fix</code> 修正。</p></section>\
         <section><h2>每日导入与绑定（只列有变化的日子）</h2>{chart}</section>",
        period_bar("/dashboard/members", filter, period, accounts, false)
    );
    framed(
        frame,
        &format!("会员 {} 至 {}", period.from, period.to),
        &content,
    )
}

/// A job kind's line of the queue table: (kind, pending, running, dead).
pub type QueueLine = (String, i64, i64, i64);

/// A dead job as the health page lists it.
pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub last_error: String,
    pub updated: String,
}

/// A webhook endpoint's line: name, state, lag, last error.
pub struct WebhookLine {
    pub name: String,
    pub state: String,
    pub lag: u64,
    pub last_error: Option<String>,
}

/// A push as listed: time, account, event, card, parsed or not.
pub struct PushLine {
    pub received: String,
    pub appid: String,
    pub event: String,
    pub card_id: String,
    pub unparsed: bool,
}

/// The health page's figures.
pub struct HealthView {
    pub queue: Vec<QueueLine>,
    /// How long the longest-waiting due job has waited, in words.
    pub oldest_wait: Option<String>,
    pub dead: Vec<DeadJob>,
    pub webhooks: Vec<WebhookLine>,
    /// (what, value) lines about the database: backend, file size, WAL size.
    pub database: Vec<(String, String)>,
    pub pushes: Vec<PushLine>,
    /// What the last action did (a job retried), or why it was refused.
    pub notice: Option<(bool, String)>,
}

/// The health page; `csrf` goes into each retry form.
pub fn health(frame: &Frame, v: &HealthView) -> String {
    let notice = v
        .notice
        .as_ref()
        .map(|(ok, text)| {
            let class = if *ok { "ok" } else { "error" };
            format!(
                "<section><p class=\"{class}\" id=\"notice\">{}</p></section>",
                escape(text)
            )
        })
        .unwrap_or_default();
    let mut queue = String::new();
    for (kind, pending, running, dead) in &v.queue {
        let _ = write!(
            queue,
            "<tr><td>{}</td><td class=\"n\">{pending}</td><td class=\"n\">{running}</td><td class=\"n\">{dead}</td></tr>",
            escape(kind)
        );
    }
    if v.queue.is_empty() {
        queue.push_str("<tr><td colspan=\"4\" class=\"muted\">队列为空</td></tr>");
    }
    let oldest = v.oldest_wait.as_deref().unwrap_or("无等待中的任务");
    let mut dead = String::new();
    for job in &v.dead {
        let _ = write!(
            dead,
            "<tr id=\"dead-{id}\"><td class=\"n\">{id}</td><td>{}</td><td class=\"n\">{}</td><td class=\"reason\">{}</td><td>{}</td>\
             <td><form method=\"post\" action=\"/dashboard/jobs/{id}/retry\" data-confirm=\"重新执行任务 {id}？\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" class=\"danger\">重试</button></form></td></tr>",
            escape(&job.kind),
            job.attempts,
            escape(&job.last_error),
            escape(&job.updated),
            escape(&frame.csrf),
            id = job.id,
        );
    }
    if v.dead.is_empty() {
        dead.push_str("<tr><td colspan=\"6\" class=\"muted\">没有失败的任务</td></tr>");
    }
    let mut hooks = String::new();
    for w in &v.webhooks {
        let _ = write!(
            hooks,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&w.name),
            escape(&w.state),
            w.lag,
            escape(w.last_error.as_deref().unwrap_or_default())
        );
    }
    let webhooks = if v.webhooks.is_empty() {
        "<p class=\"muted\">未配置 webhook。</p>".to_owned()
    } else {
        format!("<table id=\"webhooks\"><thead><tr><th>名称</th><th>状态</th><th class=\"n\">待投递</th><th>最近错误</th></tr></thead><tbody>{hooks}</tbody></table>")
    };
    let database: String = v
        .database
        .iter()
        .map(|(what, value)| {
            format!(
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                escape(what),
                escape(value)
            )
        })
        .collect();
    let mut pushes = String::new();
    for p in &v.pushes {
        let parsed = if p.unparsed {
            "<span class=\"error\">未能解析</span>"
        } else {
            ""
        };
        let _ = write!(
            pushes,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{parsed}</td></tr>",
            escape(&p.received),
            escape(&p.appid),
            escape(&p.event),
            escape(&p.card_id)
        );
    }
    if v.pushes.is_empty() {
        pushes.push_str("<tr><td colspan=\"5\" class=\"muted\">尚未收到推送</td></tr>");
    }
    let content = format!(
        "{notice}<section><h2>任务队列</h2><p>等待最久：<b id=\"oldest-wait\">{}</b></p>\
         <table id=\"queue\"><thead><tr><th>类型</th><th class=\"n\">等待</th><th class=\"n\">执行中</th><th class=\"n\">失败</th></tr></thead>\
         <tbody>{queue}</tbody></table></section>\
         <section><h2>失败的任务</h2><table id=\"dead\"><thead><tr><th class=\"n\">ID</th><th>类型</th><th class=\"n\">尝试</th>\
         <th>原因</th><th>时间</th><th></th></tr></thead><tbody>{dead}</tbody></table></section>\
         <section><h2>Webhook</h2>{webhooks}</section>\
         <section><h2>数据库</h2><table id=\"database\"><tbody>{database}</tbody></table></section>\
         <section><h2>最近的推送</h2><table id=\"pushes\"><thead><tr><th>收到</th><th>公众号</th><th>事件</th><th>卡券</th><th></th></tr></thead>\
         <tbody>{pushes}</tbody></table></section>",
        escape(oldest)
    );
    framed(frame, "运行状况", &content)
}

/// The one script: sortable tables (a click on a `data-sort` header) and the confirmation of
/// forms with `data-confirm`.
pub const SCRIPT: &str = r#"document.querySelectorAll('th[data-sort]').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var column = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.dataset.sort === 'num', down = th.dataset.dir !== 'down';
    th.dataset.dir = down ? 'down' : 'up';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column], y = b.cells[column];
      var c = numeric ? Number(x.dataset.value) - Number(y.dataset.value)
                      : x.textContent.localeCompare(y.textContent, 'zh-CN');
      return down ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
document.querySelectorAll('form[data-confirm]').forEach(function (form) {
  form.addEventListener('submit', function (event) {
    if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
  });
});
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::dashboard::funnel::{ChannelFunnel, ChannelKey};

    #[test]
    fn pages_escape_what_they_show_and_load_nothing_from_elsewhere() {
        let frame = Frame {
            section: Section::Funnel,
            csrf: "c\"sr".to_owned(),
        };
        let period = Period::between("2026-12-01", "2026-12-02").unwrap();
        let f = Funnel {
            channels: vec![ChannelFunnel {
                key: ChannelKey {
                    appid: "wx<A>".into(),
                    card_id: "p\"C".into(),
                    outer_id: Default::default(),
                    outer_str: "<script>".into(),
                },
                label: "<script>alert(1)</script>".into(),
                counts: Counts {
                    got: 3,
                    bound: 1,
                    ..Counts::default()
                },
            }],
            totals: Counts {
                got: 3,
                bound: 1,
                ..Counts::default()
            },
            days: period.days(),
            trend: vec![],
        };
        let filter = Filter {
            appid: Some("wx&A".into()),
            card_id: Some("\"><b>".into()),
            days: None,
        };
        let html = funnel(&frame, &filter, &period, &["wx<A>".into()], &f);
        assert!(
            !html.contains("<script>alert") && !html.contains("\"><b>") && !html.contains("wx<A>")
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && html.contains("c&quot;sr")
        );
        assert!(
            html.contains("appid=wx%26A"),
            "the CSV link keeps the filter, encoded"
        );
        assert!(html.contains("33.3%"), "the bound rate");
        for page in [
            html,
            login(Some("<i>")),
            health(
                &frame,
                &HealthView {
                    queue: vec![],
                    oldest_wait: None,
                    dead: vec![],
                    webhooks: vec![],
                    database: vec![],
                    pushes: vec![],
                    notice: None,
                },
            ),
        ] {
            assert!(!page.contains("https://") && !page.contains("<i>"));
            assert!(!page.contains("src=\"http"), "no external script");
        }
    }
}
