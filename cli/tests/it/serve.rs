//! `featc serve` run as a user would, HTTP requests on loopback in, feature vectors, errors,
//! metrics and a clean stop out.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn event(user: &str, hour: u32, minute: u32, amount: f64) -> String {
    format!("{{\"user_id\":\"{user}\",\"amount\":{amount},\"ts\":\"2024-01-01T{hour:02}:{minute:02}:00Z\"}}")
}

/// A running server and its address.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts a server and waits until it is ready.
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let server = Server::spawn(dir, extra);
        // It listens at once and is ready once it has read the logs (and published them).
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.request("GET", "/readyz", &[], "").0 != 200 {
            assert!(Instant::now() < deadline, "the server never became ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Starts a server and returns once it listens.
    fn spawn(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_featc"))
            .args(["serve", ".", "--listen", "127.0.0.1:0", "--poll-ms", "50"])
            .args(extra)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("featc serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = loop {
            let line = lines.next().expect("the server says where it listens").expect("line");
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, addr }
    }

    /// Sends one request; returns the status and the body.
    fn request(&self, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
        request(&self.addr, method, path, headers, body)
    }

    fn json(&self, path: &str) -> (u16, serde_json::Value) {
        get_json(&self.addr, path)
    }

    /// Stops the server as an operator would (SIGTERM); returns whether it exited cleanly.
    fn stop(mut self) -> bool {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().is_ok_and(|s| s.success())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The vector of `u1` once its lifetime count reaches `clicks` (an appended event served),
/// failing after 20 s.
fn u1_once_clicked(server: &Server, clicks: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = server.json("/v1/features/user_clicks?user_id=u1");
        if v["features"]["clicks"] == clicks {
            return v;
        }
        assert!(Instant::now() < deadline, "the appended event never showed: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends one request to `addr`; returns the status and the body.
fn request(addr: &str, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(body) } else { body.to_owned() })
}

fn get_json(addr: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = request(addr, "GET", path, &[], "");
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")))
}

/// The body of a chunked response, joined.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { return body.to_owned() };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Lookups of u1 sent one after another from a thread until stopped; the answers.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(u16, serde_json::Value)>>,
}

impl Load {
    fn start(addr: &str) -> Load {
        let addr = addr.to_owned();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                seen.push(get_json(&addr, "/v1/features/user_clicks?user_id=u1"));
            }
            seen
        });
        Load { stop, thread }
    }

    fn stop(self) -> Vec<(u16, serde_json::Value)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("load")
    }
}

/// Edits the project's spec: a feature `biggest` added to `user_clicks`.
fn add_biggest(dir: &Path) {
    let spec = std::fs::read_to_string(dir.join("clicks.feat")).expect("spec");
    let edited = spec.replace(
        "    clicks = count() over lifetime\n",
        "    clicks = count() over lifetime\n    biggest = max(amount) over lifetime\n",
    );
    assert_ne!(spec, edited);
    std::fs::write(dir.join("clicks.feat"), edited).expect("edit");
}

fn history() -> tempfile::TempDir {
    clicks_project(&[
        &event("u1", 1, 0, 1.0),
        &event("u1", 1, 10, 2.0),
        &event("u2", 1, 5, 4.0),
        &event("u2", 3, 0, 8.0),
    ])
}

#[test]
fn lookups_answer_as_of_now_and_decay_for_a_quiet_key() {
    let dir = history();
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.request("GET", "/healthz", &[], "").0, 200);
    assert_eq!(server.request("GET", "/readyz", &[], "").0, 200);
    // u1 went quiet at 01:10; the stream is at 03:00: its sliding hour is empty, its lifetime
    // count is not.
    let (status, v) = server.json("/v1/features/user_clicks?user_id=u1");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["found"], true);
    assert_eq!(v["as_of"], "2024-01-01T03:00:00.000Z", "{v}");
    assert_eq!(v["features"]["clicks"], 2, "{v}");
    assert!(v["features"]["spent"].is_null() || v["features"]["spent"] == 0.0, "decayed: {v}");
    assert!(v["version"].is_string() && v["target"] == "kappa" && v["offsets"]["clicks"] == 4, "{v}");
    // The same as `featc get --at` the same time, read from the same data folder meanwhile.
    let get = featc(&["get", ".", "--key", "user_id=u1", "--at", "2024-01-01T03:00:00Z"], dir.path());
    let cli: serde_json::Value = serde_json::from_slice(&get.stdout).expect("get JSON");
    assert_eq!(cli[0]["features"], v["features"], "{}", text(&get.stderr));
    // And as `featc materialize --at` and a training-set row at that time.
    let out = featc(&["materialize", ".", "--at", "2024-01-01T03:00:00Z", "--format", "csv", "--out", "m"], dir.path());
    ok(&out);
    let csv = std::fs::read_to_string(dir.path().join("m/user_clicks.csv")).expect("materialized");
    let row = csv.lines().find(|l| l.starts_with("u1,")).unwrap_or_else(|| panic!("{csv}"));
    assert_eq!(row.split(',').skip(2).collect::<Vec<_>>(), ["2", "0.0"], "{csv}");
    std::fs::write(dir.path().join("spine.csv"), "user_id,ts\nu1,2024-01-01T03:00:00Z\n").expect("spine");
    let rows = featc(&["training-set", ".", "--spine", "spine.csv", "--format", "csv", "--out", "t.csv"], dir.path());
    ok(&rows);
    let training = std::fs::read_to_string(dir.path().join("t.csv")).expect("training set");
    assert!(training.lines().nth(1).is_some_and(|l| l.contains(",2,")), "{training}");
    // `at` within the state; a key never seen.
    let (_, at) = server.json("/v1/features/user_clicks?user_id=u1&at=2024-01-01T01:30:00Z");
    assert_eq!(at["features"]["spent"], 3.0, "{at}");
    let (status, missing) = server.json("/v1/features/user_clicks?user_id=nobody");
    assert_eq!((status, &missing["found"]), (200, &serde_json::Value::Bool(false)));

    // An event appended while serving is visible soon after.
    std::fs::write(dir.path().join("more.ndjson"), event("u1", 3, 30, 16.0) + "\n").expect("more");
    ok(&featc(&["log", "append", ".", "--source", "clicks", "more.ndjson"], dir.path()));
    let v = u1_once_clicked(&server, 3);
    assert_eq!(v["features"]["spent"], 16.0, "{v}");
    let (_, metrics) = server.request("GET", "/metrics", &[], "");
    assert!(metrics.contains("featc_http_requests_total{route=\"/v1/features/{group}\",status=\"200\"}"), "{metrics}");
    assert!(metrics.contains("featc_events_read 5"), "{metrics}");
    assert!(server.stop(), "a clean stop on SIGTERM");
    // The stop checkpointed: a run resumes from the snapshot without replaying.
    let run = featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir.path());
    assert!(ok(&run).contains("resumed group `user_clicks`"), "{}", text(&run.stderr));
}

#[test]
fn a_stop_during_the_first_replay_keeps_what_was_read() {
    // 300,000 events of 50 users over a day: a replay of several steps.
    let events: Vec<String> =
        (0..300_000u32).map(|i| event(&format!("u{}", i % 50), i / 12_500, (i % 12_500) / 209, 1.0)).collect();
    let lines: Vec<&str> = events.iter().map(String::as_str).collect();
    let dir = clicks_project(&lines);
    let server = Server::spawn(dir.path(), &[]);
    assert_eq!(server.request("GET", "/readyz", &[], "").0, 503, "still replaying");
    // Stopped midway, it stops at the next step and checkpoints what it read.
    assert!(server.stop(), "a clean stop on SIGTERM");
    let run = featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir.path());
    let said = ok(&run);
    assert!(said.contains("resumed group `user_clicks`"), "{said}");
    let rest: u64 = said
        .split("replayed ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("replayed N events");
    assert!(rest > 0 && rest < 300_000, "{said}");
    let got = featc(&["get", ".", "--key", "user_id=u7"], dir.path());
    ok(&got);
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).expect("JSON");
    assert_eq!(got[0]["features"]["clicks"], 6000, "{got}");
}

#[test]
fn every_bad_request_gets_a_json_error_naming_what_is_wrong() {
    let dir = history();
    let server = Server::start(dir.path(), &["--max-batch", "2"]);
    for (path, status, code) in [
        ("/v1/features/nope?user_id=u1", 404, "unknown_group"),
        ("/v1/features/user_clicks", 400, "missing_key"),
        ("/v1/features/user_clicks?user_id=u1&color=red", 400, "extra_key"),
        ("/v1/features/user_clicks?user_id=u1&at=yesterday", 400, "bad_time"),
        ("/v1/features/user_clicks?user_id=u1&at=2024-01-01T00:00:00Z", 422, "too_early"),
        ("/nowhere", 404, "not_found"),
    ] {
        let (got, v) = server.json(path);
        assert_eq!((got, v["error"]["code"].as_str()), (status, Some(code)), "{path}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let post = |body: &str| server.request("POST", "/v1/features", &[], body);
    let (status, body) = post(
        r#"{"lookups": [{"group": "user_clicks", "key": {"user_id": "u1"}}, {"group": "user_clicks", "key": {"user_id": "u2"}, "at": "2024-01-01T03:00:00Z"}]}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["results"][0]["features"]["clicks"].as_i64(), v["results"][1]["features"]["clicks"].as_i64()),
        (Some(2), Some(2))
    );
    let (status, body) = post(r#"{"lookups": [{"group": "user_clicks", "key": {"user_id": 7}}]}"#);
    assert!(status == 400 && body.contains("lookups[0]: key field `user_id`: not a string"), "{status} {body}");
    let three = r#"{"lookups": [{"group": "g"}, {"group": "g"}, {"group": "g"}]}"#;
    assert_eq!(post(three).0, 413);
    assert_eq!(post("{not json").0, 400);
    assert_eq!(post(r#"{"lookups": [], "extra": 1}"#).0, 422);
}

#[test]
fn a_token_guards_every_route_but_the_health_checks() {
    let dir = history();
    std::fs::write(dir.path().join("token"), "s3cret\n").expect("token");
    let server = Server::start(dir.path(), &["--token-file", "token"]);
    let path = "/v1/features/user_clicks?user_id=u1";
    assert_eq!(server.request("GET", path, &[], "").0, 401);
    assert_eq!(server.request("GET", path, &["Authorization: Bearer wrong"], "").0, 401);
    assert_eq!(server.request("GET", "/metrics", &[], "").0, 401);
    assert_eq!(server.request("GET", path, &["Authorization: Bearer s3cret"], "").0, 200);
    assert_eq!(server.request("GET", "/healthz", &[], "").0, 200);
}

#[test]
fn lambda_and_kappa_servers_answer_alike() {
    let dir = history();
    let kappa = Server::start(dir.path(), &["--data-dir", "k"]);
    let lambda = Server::start(dir.path(), &["--target", "lambda", "--data-dir", "l"]);
    for user in ["u1", "u2"] {
        let path = format!("/v1/features/user_clicks?user_id={user}&at=2024-01-01T03:00:00Z");
        let (k, l) = (kappa.json(&path).1, lambda.json(&path).1);
        assert_eq!(k["features"], l["features"], "{user}: {k} against {l}");
        assert!(l["batch_cutoff"].is_string() && l["target"] == "lambda", "{l}");
    }
}

/// A real Redis on a free port of loopback, stopped when dropped. Fails (never skips) when
/// `redis-server` is missing: `.ci/run` installs it.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server; .ci/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, url: format!("redis://127.0.0.1:{port}") }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that two servers give the same `fields` for a known key, a key as of a time, and a
/// key never seen.
fn answer_alike(pipeline: &Server, reader: &Server, fields: &[&str]) {
    for path in [
        "/v1/features/user_clicks?user_id=u1",
        "/v1/features/user_clicks?user_id=u2",
        "/v1/features/user_clicks?user_id=u2&at=2024-01-01T03:30:00Z",
        "/v1/features/user_clicks?user_id=nobody",
    ] {
        let (a, b) = (pipeline.json(path), reader.json(path));
        assert_eq!(a.0, 200, "{path}: {}", a.1);
        for field in fields {
            assert_eq!(a.1[*field], b.1[*field], "{path} {field}: {} against {}", a.1, b.1);
        }
    }
}

#[test]
fn a_server_reading_redis_answers_what_the_pipeline_serves() {
    let dir = history();
    let redis = Redis::start();
    let pipeline = Server::start(dir.path(), &["--redis", &redis.url]);
    let reader = Server::start(dir.path(), &["--from-redis", &redis.url]);
    answer_alike(&pipeline, &reader, &["found", "features", "as_of", "version", "offsets"]);
    // New events reach the reader through Redis.
    std::fs::write(dir.path().join("more.ndjson"), event("u1", 3, 30, 16.0) + "\n").expect("more");
    ok(&featc(&["log", "append", ".", "--source", "clicks", "more.ndjson"], dir.path()));
    let v = u1_once_clicked(&reader, 3);
    assert_eq!(v["as_of"], "2024-01-01T03:30:00.000Z", "{v}");
    // Redis gone: the reader says so with 503, promptly, and does not hang.
    drop(redis);
    let started = Instant::now();
    let (status, v) = reader.json("/v1/features/user_clicks?user_id=u1");
    assert_eq!((status, v["error"]["code"].as_str()), (503, Some("store_unavailable")), "{v}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(reader.request("GET", "/healthz", &[], "").0, 200);
}

#[test]
fn every_documented_route_is_served() {
    let dir = history();
    let server = Server::start(dir.path(), &[]);
    for (method, path) in featc_runtime::serve::http::ROUTES {
        let path = path.replace("{group}", "user_clicks") + "?user_id=u1";
        let body = if method == "post" { r#"{"lookups": []}"# } else { "" };
        let (status, text) = server.request(&method.to_uppercase(), &path, &[], body);
        assert_eq!(status, 200, "{method} {path}: {text}");
    }
    let (_, doc) = server.json("/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn a_spec_edit_under_load_switches_versions_with_no_failed_or_mixed_answer() {
    let dir = history();
    let server = Server::start(dir.path(), &[]);
    let load = Load::start(&server.addr);
    std::thread::sleep(Duration::from_millis(300));
    add_biggest(dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = server.json("/v1/features/user_clicks?user_id=u1");
        if v["features"].get("biggest").is_some() {
            assert_eq!(v["features"]["biggest"], 2.0, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "the new version was never served: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let seen: Vec<(u16, String, Vec<String>)> = load
        .stop()
        .into_iter()
        .map(|(status, v)| {
            let mut names: Vec<String> =
                v["features"].as_object().map(|f| f.keys().cloned().collect()).unwrap_or_default();
            names.sort();
            (status, v["version"].as_str().unwrap_or_default().to_owned(), names)
        })
        .collect();
    assert!(seen.len() > 10, "{} lookups", seen.len());
    let versions: std::collections::BTreeSet<&String> = seen.iter().map(|(_, v, _)| v).collect();
    assert_eq!(versions.len(), 2, "both versions answered: {versions:?}");
    for (status, version, names) in &seen {
        assert_eq!(*status, 200);
        // Each answer is wholly one version's: the old features, or the new ones.
        let new = names.contains(&"biggest".to_owned());
        assert_eq!(names.len(), if new { 3 } else { 2 }, "{version}: {names:?}");
        assert!(seen.iter().filter(|(_, v, _)| v == version).all(|(_, _, n)| n == names), "mixed answers of {version}");
    }
}

#[test]
fn lambda_layers_in_redis_merge_at_read_time_as_the_pipeline_does() {
    let dir = history();
    let redis = Redis::start();
    let lambda = ["--target", "lambda", "--redis-prefix", "featc-lambda"];
    let pipeline = Server::start(dir.path(), &[&lambda[..], &["--redis", &redis.url, "--data-dir", "l"]].concat());
    let reader = Server::start(dir.path(), &[&lambda[..], &["--from-redis", &redis.url]].concat());
    answer_alike(&pipeline, &reader, &["found", "features", "as_of", "version", "batch_cutoff", "target"]);
    // An event after the cutoff: the speed layer's partial, merged with the view's on read.
    std::fs::write(dir.path().join("more.ndjson"), event("u2", 3, 20, 16.0) + "\n").expect("more");
    ok(&featc(&["log", "append", ".", "--source", "clicks", "more.ndjson", "--data-dir", "l"], dir.path()));
    let path = "/v1/features/user_clicks?user_id=u2&at=2024-01-01T03:30:00Z";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (a, b) = (pipeline.json(path).1, reader.json(path).1);
        if a["features"]["clicks"] == 3 && b["features"] == a["features"] {
            assert_eq!(a["features"]["spent"], 24.0, "the view's 8 and the speed layer's 16: {a}");
            break;
        }
        assert!(Instant::now() < deadline, "{a} against {b}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_server_reading_redis_follows_the_pipeline_to_a_new_version_with_no_failed_answer() {
    let dir = history();
    let redis = Redis::start();
    let pipeline = Server::start(dir.path(), &["--redis", &redis.url]);
    let reader = Server::start(dir.path(), &["--from-redis", &redis.url]);
    let load = Load::start(&reader.addr);
    std::thread::sleep(Duration::from_millis(300));
    add_biggest(dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let (_, v) = reader.json("/v1/features/user_clicks?user_id=u1");
        if v["features"].get("biggest").is_some() {
            assert_eq!(v["features"]["biggest"], 2.0, "{v}");
            break v;
        }
        assert!(Instant::now() < deadline, "the reader never served the new version: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // The reader answers the pipeline's new version, with the same vector.
    let (_, served) = pipeline.json("/v1/features/user_clicks?user_id=u1");
    assert_eq!((&new["version"], &new["features"]), (&served["version"], &served["features"]));
    let seen = load.stop();
    assert!(seen.len() > 10, "{} lookups", seen.len());
    let versions: std::collections::BTreeSet<String> = seen.iter().map(|(_, v)| v["version"].to_string()).collect();
    assert_eq!(versions.len(), 2, "both versions answered during the load: {versions:?}");
    for (status, v) in &seen {
        assert_eq!(*status, 200, "{v}");
        let n = v["features"].as_object().map_or(0, serde_json::Map::len);
        assert_eq!(n, if v["version"] == new["version"] { 3 } else { 2 }, "{v}");
    }
}

#[test]
fn lambda_serving_recomputes_the_batch_view_at_its_cadence_and_swaps_it_in() {
    let dir = history();
    let spec = std::fs::read_to_string(dir.path().join("clicks.feat")).expect("spec");
    std::fs::write(dir.path().join("clicks.feat"), spec.replace("batch every 1h", "batch every 2s")).expect("spec");
    let redis = Redis::start();
    let lambda = ["--target", "lambda", "--redis-prefix", "featc-cadence"];
    let pipeline = Server::start(dir.path(), &[&lambda[..], &["--redis", &redis.url]].concat());
    let reader = Server::start(dir.path(), &[&lambda[..], &["--from-redis", &redis.url]].concat());
    let path = "/v1/features/user_clicks?user_id=u1&at=2024-01-01T04:30:00Z";
    let (_, before) = pipeline.json(path);
    assert_eq!(before["batch_cutoff"], "2024-01-01T03:00:00.000Z", "{before}");
    assert_eq!(before["features"]["clicks"], 2, "{before}");
    // A later event reaches the history and the log: the speed layer counts it at once, and
    // the next batch run moves the cutoff past it, with the same answers.
    let late = event("u1", 4, 0, 32.0);
    let mut history = std::fs::read_to_string(dir.path().join("clicks.ndjson")).expect("history");
    history.push_str(&(late.clone() + "\n"));
    // Written beside and renamed into place: the batch layer never reads half a file.
    std::fs::write(dir.path().join("clicks.ndjson.new"), history).expect("history");
    std::fs::rename(dir.path().join("clicks.ndjson.new"), dir.path().join("clicks.ndjson")).expect("rename");
    std::fs::write(dir.path().join("more.ndjson"), late + "\n").expect("more");
    ok(&featc(&["log", "append", ".", "--source", "clicks", "more.ndjson"], dir.path()));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (a, b) = (pipeline.json(path), reader.json(path));
        assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
        let (a, b) = (a.1, b.1);
        if a["batch_cutoff"] == "2024-01-01T04:00:00.000Z" && b["batch_cutoff"] == a["batch_cutoff"] {
            assert_eq!(a["features"]["clicks"], 3, "{a}");
            assert_eq!(a["features"]["spent"], 32.0, "{a}");
            assert_eq!(a["features"], b["features"], "the reader answers the new view alike");
            break;
        }
        if a["batch_cutoff"] == before["batch_cutoff"] {
            assert!(a["features"]["clicks"] == 2 || a["features"]["clicks"] == 3, "{a}");
        }
        assert!(Instant::now() < deadline, "the batch view was never recomputed: {a} {b}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, metrics) = pipeline.request("GET", "/metrics", &[], "");
    assert!(metrics.contains("featc_batch_cutoff_seconds 1704081600"), "{metrics}");
}

/// A server over a Delta-bound source (Streamhouse) serves the table's events and follows its
/// new commits, whoever writes them.
#[test]
fn a_server_follows_the_commits_of_a_delta_table() {
    let dir = history();
    let spec = std::fs::read_to_string(dir.path().join("clicks.feat")).expect("spec");
    let delta = spec.replace("\"clicks.ndjson\"", "\"clicks\" format delta");
    assert_ne!(delta, spec);
    std::fs::write(dir.path().join("clicks.feat"), delta).expect("spec");
    // The table's first commit: the history, appended by featc.
    ok(&featc(&["log", "append", ".", "--source", "clicks", "clicks.ndjson"], dir.path()));
    let server = Server::start(dir.path(), &[]);
    let (status, v) = server.json("/v1/features/user_clicks?user_id=u1");
    assert_eq!((status, &v["features"]["clicks"]), (200, &serde_json::json!(2)), "{v}");
    // A second commit, as another writer would make it: featc again, from NDJSON.
    std::fs::write(dir.path().join("more.ndjson"), event("u1", 3, 30, 16.0) + "\n").expect("more");
    ok(&featc(&["log", "append", ".", "--source", "clicks", "more.ndjson"], dir.path()));
    let v = u1_once_clicked(&server, 3);
    assert_eq!(v["features"]["spent"], 16.0, "{v}");
    // Version 1, row 1: the offset names the commit.
    let offset = v["offsets"].as_object().and_then(|o| o.values().next()).and_then(serde_json::Value::as_u64);
    assert_eq!(offset, Some((1 << 32) + 1), "{v}");
    assert!(server.stop(), "a clean stop on SIGTERM");
}
