//! Browser tests: the agent panel, the supervisor board and the post-call view in headless
//! Chromium, driven through chromedriver with fantoccini, against the real server in-process on
//! 127.0.0.1:0, with a platform streaming calls over `/v1/stream`.
//!
//! chromedriver is started here on a free port. Without `/usr/bin/chromedriver` (or
//! `$CHROMEDRIVER`) the test is skipped with a message, unless `CI` is set, where it fails:
//! `.ci/run` installs Debian's `chromium` and `chromium-driver`.
//!
//! UI state is polled with a timeout (no timed performance assertions). Screenshots go to
//! `target/screenshots/*.png`.

mod common;

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use calma::engine::Resources;
use calma::server::{start as start_server, Options};
use common::*;

/// Longest wait for any one UI condition.
const UI_TIMEOUT: Duration = Duration::from_secs(10);

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromedriver() -> PathBuf {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A chromedriver process on a free port, and a fresh Chromium profile directory; both cleaned
/// up on drop.
struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Driver {
    fn start() -> Option<Driver> {
        let exe = chromedriver();
        let missing = [exe.as_path(), Path::new(CHROMIUM)]
            .into_iter()
            .find(|p| !p.exists());
        if let Some(p) = missing {
            let msg = format!(
                "{} not found: install Debian's chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver)",
                p.display()
            );
            if on_ci() {
                panic!("CI is set and the browser tests cannot run: {msg}");
            }
            eprintln!("SKIPPED browser tests: {msg}");
            return None;
        }
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let profile =
            std::env::temp_dir().join(format!("calma-browser-{}-{}", std::process::id(), port));
        std::fs::create_dir_all(&profile).expect("profile dir");
        Some(Driver {
            child,
            port,
            profile,
        })
    }

    async fn client(&self) -> Client {
        let deadline = Instant::now() + UI_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--lang=es-ES", "--window-size=380,640",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        tokio::time::timeout(
            Duration::from_secs(30),
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{}", self.port)),
        )
        .await
        .expect("a WebDriver session in time")
        .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Poll `f` until it yields `Some`, for at most [`UI_TIMEOUT`].
async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Evaluate a JavaScript expression in the page.
async fn js(c: &Client, expr: &str) -> Value {
    c.execute(&format!("return ({expr});"), vec![])
        .await
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(name), png).expect("write screenshot");
}

fn seg(call: &str, id: &str, speaker: &str, text: &str, start: u64, end: u64) -> String {
    json!({"type":"segment","call_id":call,"segment_id":id,"speaker":speaker,"text":text,
           "start_ms":start,"end_ms":end,"final":true})
    .to_string()
}

fn start(call: &str, agent: &str) -> String {
    json!({"type":"call.start","call_id":call,"agent_id":agent,"language":"es"}).to_string()
}

/// Read the platform connection until a message matches.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next_json(ws).await;
        if pred(&v) {
            return v;
        }
    }
}

async fn feedback_total(addr: SocketAddr, kind: &str) -> f64 {
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    metric(
        &text,
        "calma_feedback_total",
        &[("kind", kind), ("campaign", "default"), ("useful", "true")],
    )
    .unwrap_or(0.0)
}

async fn board_order(c: &Client) -> Vec<String> {
    let v = js(
        c,
        "[...document.querySelectorAll('#calls tbody tr')].map(r => r.dataset.callId)",
    )
    .await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_panel_supervisor_board_and_post_call_view_in_chromium() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let server = server().await;
    let addr = server.local_addr();
    let client = driver.client().await;
    let outcome = AssertUnwindSafe(async {
        scenario(&client, addr).await;
        reconnects(&client).await;
    })
    .catch_unwind()
    .await;
    let _ = client.close().await;
    drop(driver);
    server.shutdown().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(c: &Client, addr: SocketAddr) {
    let base = format!("http://{addr}");

    // --- Agent panel -------------------------------------------------------------------------
    c.set_window_size(380, 640).await.ok();
    c.goto(&format!("{base}/agent/a-7")).await.unwrap();
    poll("the panel to connect", || async {
        (js(c, "document.getElementById('status').dataset.state").await == "online").then_some(())
    })
    .await;
    wait_health(addr, "agent_sockets", 1).await;
    assert_eq!(
        js(c, "document.getElementById('status').textContent").await,
        "en línea"
    );
    assert_eq!(
        js(c, "document.getElementById('empty').hidden").await,
        false
    );

    let mut ws = connect(addr, "/v1/stream").await;
    let call = "c-web-1";
    send_all(
        &mut ws,
        &[
            start(call, "a-7"),
            seg(
                call,
                "s1",
                "agent",
                "buenos días le atiende laura en qué puedo ayudarle",
                0,
                3000,
            ),
            seg(
                call,
                "s2",
                "customer",
                // Frustrated, not yet angry: the gauge shows the rise to the shouted insult.
                "llevo una semana sin internet y nadie me da una solución",
                3500,
                8000,
            ),
            seg(
                call,
                "s3",
                "agent",
                "vaya lo siento déjeme revisar su línea un momento",
                8500,
                11000,
            ),
            seg(
                call,
                "s4",
                "customer",
                "eres un inútil NO SIRVES PARA NADA!!",
                11500,
                14000,
            ),
        ],
    )
    .await;
    let abuse = until(&mut ws, |v| {
        v["type"] == "nudge" && v["kind"] == "abuse_boundary"
    })
    .await;
    let breathe = until(&mut ws, |v| v["type"] == "nudge" && v["kind"] == "breathe").await;
    let abuse_text = abuse["text"].as_str().unwrap().to_string();

    // The urgent abuse nudge is shown (it outranks the urgent breathe), announced assertively.
    let shown = poll("the abuse nudge on the panel", || async {
        let t = js(c, "document.getElementById('card').hidden ? null : document.getElementById('nudge-text').textContent").await;
        (t == abuse_text.as_str()).then_some(t)
    })
    .await;
    assert_eq!(
        shown,
        "Pon un límite con calma y firmeza. Si sigue, aplica el protocolo."
    );
    assert_eq!(
        js(c, "document.getElementById('card').dataset.severity").await,
        "urgent"
    );
    assert_eq!(
        js(c, "document.getElementById('nudge-severity').textContent").await,
        "Urgente"
    );
    assert_eq!(
        js(c, "document.getElementById('more').textContent").await,
        "Hay 1 aviso urgente más."
    );
    poll("the assertive announcement", || async {
        let t = js(c, "document.getElementById('live-assertive').textContent").await;
        t.as_str()
            .is_some_and(|t| t.contains(&abuse_text))
            .then_some(())
    })
    .await;
    screenshot(c, "agent-panel-nudge.png").await;

    // "¿Por qué?" reveals the evidence quote; it is a real button, operable from the keyboard.
    assert_eq!(
        js(c, "document.getElementById('evidence').hidden").await,
        true
    );
    let why = c.find(Locator::Id("why")).await.unwrap();
    assert_eq!(why.tag_name().await.unwrap(), "button");
    why.send_keys("\u{e007}").await.unwrap(); // Enter
    let evidence = poll("the evidence", || async {
        let hidden = js(c, "document.getElementById('evidence').hidden").await;
        let text = js(c, "document.getElementById('evidence').innerText").await;
        (hidden == false).then(|| text.as_str().unwrap_or_default().to_string())
    })
    .await;
    assert_eq!(
        js(c, "document.querySelector('#evidence q').textContent").await,
        "inútil"
    );
    assert!(evidence.contains("segmento s4"), "{evidence}");
    assert_eq!(
        why.attr("aria-expanded").await.unwrap().as_deref(),
        Some("true")
    );
    screenshot(c, "agent-panel-why.png").await;

    // 👍 sends feedback: calma_feedback_total goes up.
    let before = feedback_total(addr, "abuse_boundary").await;
    c.find(Locator::Id("fb-up"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    poll("calma_feedback_total to increase", || async {
        (feedback_total(addr, "abuse_boundary").await > before).then_some(())
    })
    .await;
    assert_eq!(
        js(c, "document.getElementById('fb-done').textContent").await,
        "Gracias."
    );
    assert_eq!(
        js(
            c,
            "document.getElementById('fb-up').getAttribute('aria-pressed')"
        )
        .await,
        "true"
    );

    // The frustration gauge follows the call's state.
    assert_eq!(
        js(c, "document.getElementById('gauge').dataset.level").await,
        "angry"
    );
    assert!(js(c, "document.getElementById('gauge-label').textContent")
        .await
        .as_str()
        .unwrap()
        .starts_with("Enfadado"));
    assert_eq!(
        js(c, "document.getElementById('trend').textContent").await,
        "↑"
    );

    // The agent sets a limit: abuse_boundary clears, fades out, and breathe takes its place.
    send(
        &mut ws,
        &seg(
            call,
            "s5",
            "agent",
            "le pido respeto por favor así no puedo ayudarle",
            14500,
            18000,
        ),
    )
    .await;
    let clear = until(&mut ws, |v| v["type"] == "nudge.clear").await;
    assert_eq!(clear["nudge_id"], abuse["nudge_id"]);
    assert_eq!(clear["reason"], "limit_set");
    let breathe_text = breathe["text"].as_str().unwrap().to_string();
    poll("the cleared nudge to disappear", || async {
        let t = js(c, "document.getElementById('card').hidden ? null : document.getElementById('nudge-text').textContent").await;
        (t == breathe_text.as_str()).then_some(())
    })
    .await;
    let html = js(c, "document.getElementById('card').innerText").await;
    assert!(!html.as_str().unwrap().contains(&abuse_text));
    poll("the next nudge to fade in", || async {
        let o = js(
            c,
            "getComputedStyle(document.getElementById('card')).opacity",
        )
        .await;
        (o == "1").then_some(())
    })
    .await;
    screenshot(c, "agent-panel-after-clear.png").await;

    // --- Supervisor board --------------------------------------------------------------------
    c.set_window_size(1280, 900).await.ok();
    c.goto(&format!("{base}/supervisor")).await.unwrap();
    // The open call comes from the snapshot.
    poll("the board to list the call", || async {
        (board_order(c).await == [call]).then_some(())
    })
    .await;
    // The first call's customer calms down (tense); a second call starts calm below it...
    send(
        &mut ws,
        &seg(
            call,
            "s6",
            "customer",
            "vale perdone ya veo que funciona otra vez muchas gracias",
            150000,
            154000,
        ),
    )
    .await;
    let call2 = "c-web-2";
    send_all(
        &mut ws,
        &[
            start(call2, "a-8"),
            seg(
                call2,
                "s1",
                "agent",
                "buenas tardes le atiende pablo en qué puedo ayudarle",
                0,
                3000,
            ),
            seg(
                call2,
                "s2",
                "customer",
                "hola quería consultar una factura",
                3500,
                6000,
            ),
        ],
    )
    .await;
    poll("two calls, the tense one first", || async {
        let order = board_order(c).await;
        let tense = js(
            c,
            "document.querySelector('#calls tr[data-call-id=\"c-web-1\"]')?.dataset.level",
        )
        .await;
        (order == [call, call2] && tense == "tense").then_some(())
    })
    .await;
    // ...until its customer's frustration rises above the first: the board re-sorts.
    send(
        &mut ws,
        &seg(
            call2,
            "s3",
            "customer",
            "es una vergüenza llevo tres semanas sin luz y nadie me soluciona nada",
            6500,
            11000,
        ),
    )
    .await;
    poll("the board to re-sort", || async {
        (board_order(c).await == [call2, call]).then_some(())
    })
    .await;
    assert_eq!(
        js(c, "document.querySelector('#calls tbody tr').dataset.level").await,
        "frustrated"
    );
    assert_eq!(
        js(
            c,
            "document.querySelectorAll('#calls tbody tr svg.spark polyline').length"
        )
        .await,
        2
    );
    // Its agent answers without acknowledging the customer: an open nudge shows on its row.
    send(
        &mut ws,
        &seg(
            call2,
            "s4",
            "agent",
            "bueno eso no depende de mí",
            11500,
            13500,
        ),
    )
    .await;
    poll("the open nudge on the row", || async {
        let t = js(
            c,
            "document.querySelector('#calls tbody tr .tag')?.textContent",
        )
        .await;
        (t == "Empatía").then_some(())
    })
    .await;

    // Click a call: the board asks for it (`call.open`; the snapshot carried only a summary)
    // and shows its whole transcript with the evidence highlighted, and its nudge timeline.
    c.find(Locator::Css("#calls tr[data-call-id=\"c-web-1\"] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    poll("the call's detail from the server", || async {
        let d = js(c, "document.getElementById('detail-body').dataset.detail").await;
        (d == "full").then_some(())
    })
    .await;
    let marks = poll("highlighted evidence in the transcript", || async {
        let v = js(
            c,
            "[...document.querySelectorAll('#transcript mark')].map(m => m.textContent)",
        )
        .await;
        let v: Vec<String> = serde_json::from_value(v).unwrap();
        (!v.is_empty()).then_some(v)
    })
    .await;
    assert!(marks.iter().any(|m| m == "inútil"), "{marks:?}");
    let segments = js(c, "document.querySelectorAll('#transcript .seg').length").await;
    assert_eq!(segments, 6);
    let timeline = js(c, "document.getElementById('timeline').innerText").await;
    let timeline = timeline.as_str().unwrap();
    assert!(
        timeline.contains("Límite") && timeline.contains("puso un límite"),
        "{timeline}"
    );
    screenshot(c, "supervisor-board.png").await;

    // --- Post-call view ----------------------------------------------------------------------
    for id in [call, call2] {
        send(
            &mut ws,
            &json!({"type":"call.end","call_id":id}).to_string(),
        )
        .await;
        until_summary(&mut ws, id).await;
    }
    poll("the ended calls under recent", || async {
        let n = js(c, "document.querySelectorAll('#recent li').length").await;
        (board_order(c).await.is_empty() && n == 2).then_some(())
    })
    .await;
    c.goto(&format!("{base}/calls/{call}")).await.unwrap();
    poll("the post-call plot", || async {
        let shown = js(c, "!document.getElementById('content').hidden").await;
        let lines = js(c, "document.querySelectorAll('#plot polyline').length").await;
        (shown == true && lines == 1).then_some(())
    })
    .await;
    assert_eq!(
        js(
            c,
            "document.querySelectorAll('#plot rect[rx=\"3\"]').length"
        )
        .await,
        6
    );
    let table = js(c, "document.getElementById('nudges').innerText").await;
    assert!(table.as_str().unwrap().contains("útil"), "{table}");

    // A longer call (the README's example) for the post-call screenshot.
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/angry_call.jsonl"),
    )
    .unwrap();
    let lines: Vec<String> = example.lines().map(str::to_string).collect();
    send_all(&mut ws, &lines).await;
    until_summary(&mut ws, "c-angry-1").await;
    c.set_window_size(1280, 1180).await.ok();
    c.goto(&format!("{base}/calls/c-angry-1")).await.unwrap();
    poll("the example's post-call plot", || async {
        let lines = js(c, "document.querySelectorAll('#plot polyline').length").await;
        (lines == 1).then_some(())
    })
    .await;
    screenshot(c, "post-call.png").await;

    // --- Campaign report (from the call history) ----------------------------------------------
    c.set_window_size(1280, 1400).await.ok();
    poll("the report's charts", || async {
        c.goto(&format!("{base}/reports/default")).await.ok()?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let calls = js(c, "document.getElementById('tiles').textContent").await;
        let kinds = js(c, "document.querySelectorAll('#kinds rect').length").await;
        (calls.as_str()?.contains("Llamadas") && kinds.as_u64()? >= 1).then_some(())
    })
    .await;
    assert_eq!(
        js(c, "document.querySelectorAll('#levels rect').length").await,
        8,
        "peak and end bars for the four levels"
    );
    assert_eq!(
        js(c, "document.querySelectorAll('#trend path').length").await,
        2
    );
    let useful = js(c, "document.getElementById('useful').textContent").await;
    assert!(
        useful.as_str().unwrap().contains('%'),
        "agent feedback reached the report: {useful}"
    );
    screenshot(c, "campaign-report.png").await;

    c.goto(&format!("{base}/calls/no-such-call")).await.unwrap();
    poll("the not-found message", || async {
        let t = js(c, "document.getElementById('error').hidden ? '' : document.getElementById('error').textContent").await;
        t.as_str().unwrap().contains("No se encuentra").then_some(())
    })
    .await;
}

/// The panel survives a server restart: a quiet "reconectando…", then back online by itself.
async fn reconnects(c: &Client) {
    let first = server().await;
    let addr = first.local_addr();
    c.set_window_size(380, 640).await.ok();
    c.goto(&format!("http://{addr}/agent/a-9")).await.unwrap();
    let state = || async { js(c, "document.getElementById('status').dataset.state").await };
    poll("the panel online", || async {
        (state().await == "online").then_some(())
    })
    .await;
    assert!(first.shutdown().await.clean);
    poll("the reconnecting state", || async {
        (state().await == "reconnecting").then_some(())
    })
    .await;
    assert_eq!(
        js(c, "document.getElementById('status').textContent").await,
        "reconectando…"
    );
    // A new server on the same address: the panel comes back without a reload.
    let listener = poll("the address to be free again", || async {
        tokio::net::TcpListener::bind(addr).await.ok()
    })
    .await;
    let second = start_server(Resources::embedded(), Options::default(), listener)
        .await
        .unwrap();
    poll("the panel back online", || async {
        (state().await == "online").then_some(())
    })
    .await;
    wait_health(addr, "agent_sockets", 1).await;
    second.shutdown().await;
}
