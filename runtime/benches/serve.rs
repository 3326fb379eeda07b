//! The fraud example's state served (Kappa, 1,801 keys, 20,000 events) in, lookup latencies
//! out: in process, and over HTTP on loopback at fixed request rates, each against a Redis GET
//! of the same vector in the same run; and freshness (an appended event to its value served).
//! Run: `cargo bench -p featc-runtime --bench serve` (needs `redis-server` on the PATH).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use featc_runtime::io::log::Log;
use featc_runtime::runners::kappa::KappaRunner;
use featc_runtime::serve::{Lookup, Service, http};

const USERS: usize = 1801;
const SECONDS: u64 = 5;

fn ir(project: &Path) -> featc::ir::FeatureIr {
    let mut sources = featc::SourceMap::new();
    for entry in std::fs::read_dir(project).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "feat") {
            sources.add(path.to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap());
        }
    }
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors());
    featc::ir::lower(&checked.project).unwrap()
}

fn user(i: usize) -> String {
    format!("u{:05}", i % USERS + 1)
}

fn lookup(i: usize) -> Lookup {
    let key = [("user_id".to_owned(), serde_json::Value::String(user(i)))].into_iter().collect();
    Lookup { group: "user_fraud".to_owned(), key, at: None }
}

/// p50, p99, p99.9 and max of latencies, in microseconds.
fn percentiles(mut micros: Vec<f64>) -> String {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() as f64 * q) as usize).min(micros.len() - 1)];
    format!("{:8.1} {:8.1} {:9.1} {:9.1}", at(0.5), at(0.99), at(0.999), micros[micros.len() - 1])
}

/// A stream of pseudo-random user indices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % USERS as u64) as usize
    }
}

/// Open-loop load: `rate` requests a second for `SECONDS` over `connections`, each latency taken
/// from the time the request was due (so a slow answer delays, and counts against, the next).
fn open_loop(rate: u64, connections: u64, mut send: impl FnMut(u64) -> Box<dyn FnMut(usize) + Send>) -> Vec<f64> {
    let per = rate / connections;
    let interval = Duration::from_nanos(1_000_000_000 / per);
    let start = Instant::now() + Duration::from_millis(100);
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let mut request = send(c);
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9 + c);
                let mut out = Vec::new();
                for i in 0..per * SECONDS {
                    let due = start + interval * i as u32 + interval / connections as u32 * c as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    request(rng.next());
                    out.push(due.elapsed().as_secs_f64() * 1e6);
                }
                out
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
}

/// One keep-alive HTTP/1.1 connection: sends a GET, reads the response whole.
fn http_client(addr: std::net::SocketAddr) -> Box<dyn FnMut(usize) + Send> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    Box::new(move |i| {
        write!(writer, "GET /v1/features/user_fraud?user_id={} HTTP/1.1\r\nHost: bench\r\n\r\n", user(i)).unwrap();
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
    })
}

fn main() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fraud");
    let data = tempfile::tempdir().unwrap();
    let (runner, _) = KappaRunner::open(ir(&project), &project, data.path()).unwrap();
    let service = Service::new(Box::new(runner), "kappa", None);
    service.catch_up().unwrap();
    let now = 1_900_000_000_000;

    // Redis, with each key's served vector stored as one string: the baseline a feature store
    // that keeps finished values would answer with.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis_server = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    std::thread::sleep(Duration::from_millis(300));
    let redis_url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    for i in 0..USERS {
        let v = service.lookup(&lookup(i), now).unwrap();
        redis::cmd("SET").arg(format!("vec:{}", user(i))).arg(v.to_string()).query::<()>(&mut con).unwrap();
    }

    println!("latency in µs:                              p50      p99     p99.9       max");
    let mut rng = Rng(7);
    let mut inproc = Vec::new();
    for _ in 0..200_000 {
        let l = lookup(rng.next());
        let t = Instant::now();
        std::hint::black_box(service.lookup(&l, now).unwrap());
        inproc.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!("in-process lookup (200,000)            {}", percentiles(inproc));
    let mut get = Vec::new();
    for _ in 0..50_000 {
        let key = format!("vec:{}", user(rng.next()));
        let t = Instant::now();
        std::hint::black_box(redis::cmd("GET").arg(key).query::<String>(&mut con).unwrap());
        get.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!("Redis GET of the vector (50,000)       {}", percentiles(get));

    // The server on one worker thread; the load generator's threads on the other core.
    let router = http::router(service.clone(), http::Config::default());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    for rate in [2_000, 5_000, 10_000] {
        let http = open_loop(rate, 8, |_| http_client(addr));
        println!("HTTP GET /v1/features at {rate:>6}/s ({}s)  {}", SECONDS, percentiles(http));
        let url = redis_url.clone();
        let redis = open_loop(rate, 8, move |_| {
            let mut con = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
            Box::new(move |i| {
                std::hint::black_box(
                    redis::cmd("GET").arg(format!("vec:{}", user(i))).query::<String>(&mut con).unwrap(),
                );
            })
        });
        println!("Redis GET at {rate:>6}/s ({}s)              {}", SECONDS, percentiles(redis));
    }

    // Freshness: an event appended to the log, to its value served, with the server's default
    // poll of 200 ms.
    let follower = service.follow(Duration::from_millis(200), Duration::from_secs(3600));
    let log = Log::open(&data.path().join("log"), "transactions").unwrap();
    let source = ir(&project).sources.into_iter().next().unwrap();
    let probe = lookup(0);
    let served = |service: &Service| service.lookup(&probe, now).unwrap()["features"]["lifetime_transactions"].as_i64();
    let mut count = served(&service).unwrap();
    let mut fresh = Vec::new();
    let events = tempfile::tempdir().unwrap();
    for i in 0..40 {
        // One event of the probed user, later than any before.
        let line = format!(
            "{{\"user_id\":\"{}\",\"merchant_id\":\"m1\",\"category\":\"c\",\"location\":\"l\",\"amount\":1.25,\"fraud_flag\":false,\"ts\":\"2029-01-01T00:{:02}:00Z\"}}\n",
            user(0),
            i
        );
        let file = events.path().join("e.ndjson");
        std::fs::write(&file, line).unwrap();
        let batches = featc_runtime::io::history::file_chunks(&file, featc::ir::FileFormat::Ndjson, &source, 10)
            .flat_map(|c| c.unwrap().batches)
            .collect::<Vec<_>>();
        let t = Instant::now();
        log.append(&batches).unwrap();
        count += 1;
        while served(&service) != Some(count) {
            std::thread::sleep(Duration::from_micros(200));
        }
        fresh.push(t.elapsed().as_secs_f64() * 1e6);
        std::thread::sleep(Duration::from_millis(37));
    }
    println!("freshness, append to served (40)       {}", percentiles(fresh));
    service.shutdown();
    let _ = follower.join();
    let _ = redis_server.kill();
    let _ = redis_server.wait();
}
