//! The fraud example's state served (Kappa, 1,801 keys, 20,000 events) in, lookup latencies
//! out: in process, and over HTTP on loopback at fixed request rates, each against a Redis GET
//! of the same vector in the same run; and freshness (an appended event to its value served).
//! Run: `cargo bench -p featc-runtime --bench serve` (needs `redis-server` on the PATH).

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use featc_runtime::io::log::Log;
use featc_runtime::runners::kappa::KappaRunner;
use featc_runtime::serve::{Lookup, Service, http};

const USERS: usize = 1801;
const SECONDS: u64 = 5;

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

/// A child process killed and reaped when dropped: at the end, or when the benchmark panics
/// (its output pipe closed by `head`, say).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pins the calling thread to one CPU (with `taskset`, on its thread id): the server on CPU 0
/// and the load generator, which never sleeps, on CPU 1, so neither waits for the other's
/// time slice.
fn pin_to(cpu: usize) {
    let me = std::fs::read_link("/proc/thread-self").unwrap();
    let tid = me.file_name().unwrap().to_string_lossy().into_owned();
    let status = Command::new("taskset").args(["-pc", &cpu.to_string(), &tid]).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "taskset");
}

/// A request-response protocol over one connection, as the load generator speaks it.
trait Protocol {
    /// The bytes of a request for user `i`.
    fn request(&self, i: usize, out: &mut Vec<u8>);
    /// Whether `buf` holds a whole response (the generator sends the next only after it).
    fn complete(&self, buf: &[u8]) -> bool;
}

/// `GET /v1/features/user_fraud?user_id=...` over HTTP/1.1 keep-alive.
struct Http;
impl Protocol for Http {
    fn request(&self, i: usize, out: &mut Vec<u8>) {
        write!(out, "GET /v1/features/user_fraud?user_id={} HTTP/1.1\r\nHost: bench\r\n\r\n", user(i)).unwrap();
    }
    fn complete(&self, buf: &[u8]) -> bool {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
        buf.len() >= end + 4 + length
    }
}

/// `GET vec:<user>` in RESP, answered by a bulk string.
struct RedisGet;
impl Protocol for RedisGet {
    fn request(&self, i: usize, out: &mut Vec<u8>) {
        let key = format!("vec:{}", user(i));
        write!(out, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
    }
    fn complete(&self, buf: &[u8]) -> bool {
        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else { return false };
        assert_eq!(buf[0], b'$', "{}", String::from_utf8_lossy(buf));
        let length: usize = std::str::from_utf8(&buf[1..end]).unwrap().parse().unwrap();
        buf.len() >= end + 2 + length + 2
    }
}

/// Open-loop load from one thread that never sleeps: `rate` requests a second for `SECONDS`,
/// each due at a fixed time, sent on the first of `connections` keep-alive connections that is
/// free, and its latency taken from the time it was due (so a slow answer counts against every
/// request queued behind it). The thread polls its non-blocking sockets in a loop, so it holds
/// one core and no timer or wake-up of its own adds to a latency.
fn open_loop(addr: std::net::SocketAddr, rate: u64, connections: usize, protocol: &dyn Protocol) -> Load {
    struct Conn {
        stream: TcpStream,
        buf: Vec<u8>,
        due: Option<Instant>,
    }
    let mut conns: Vec<Conn> = (0..connections)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            stream.set_nonblocking(true).unwrap();
            Conn { stream, buf: Vec::with_capacity(4096), due: None }
        })
        .collect();
    let total = rate * SECONDS;
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let mut rng = Rng(0x9e37_79b9 + rate);
    let (mut next, mut done) = (0u64, 0u64);
    let mut waiting = std::collections::VecDeque::new();
    let mut latencies = Vec::with_capacity(total as usize);
    let mut request = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // The generator's own stalls: gaps in its loop, which never waits, are time the machine
    // (a VM's host) took the core away.
    let (mut last, mut stalls, mut longest) = (Instant::now(), 0, Duration::ZERO);
    while done < total {
        let now = Instant::now();
        let gap = now - last;
        last = now;
        if gap > Duration::from_millis(1) {
            stalls += 1;
            longest = longest.max(gap);
        }
        while next < total && start + interval * next as u32 <= now {
            waiting.push_back(start + interval * next as u32);
            next += 1;
        }
        for conn in &mut conns {
            let Some(due) = conn.due else {
                let Some(due) = waiting.pop_front() else { continue };
                request.clear();
                protocol.request(rng.next(), &mut request);
                // A request is a few dozen bytes: the socket's buffer takes it whole.
                conn.stream.write_all(&request).unwrap();
                conn.due = Some(due);
                continue;
            };
            match conn.stream.read(&mut chunk) {
                Ok(0) => panic!("the server closed a connection"),
                Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
            if protocol.complete(&conn.buf) {
                latencies.push(due.elapsed().as_secs_f64() * 1e6);
                conn.due = None;
                conn.buf.clear();
                done += 1;
            }
        }
    }
    Load { latencies, stalls, longest }
}

/// What an open-loop run measured.
struct Load {
    latencies: Vec<f64>,
    stalls: u32,
    longest: Duration,
}

impl Load {
    fn report(self, what: &str) {
        println!(
            "{what:<38} {}   generator stalls > 1 ms: {:3}, longest {:5.1} ms",
            percentiles(self.latencies),
            self.stalls,
            self.longest.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    featc_runtime::process::without_huge_pages();
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fraud");
    let data = tempfile::tempdir().unwrap();
    let (runner, _) = KappaRunner::open(common::project_ir(&project), &project, data.path()).unwrap();
    let service = Service::new(Box::new(runner), "kappa", None);
    service.catch_up().unwrap();
    let now = 1_900_000_000_000;

    // Redis, with each key's served vector stored as one string: the baseline a feature store
    // that keeps finished values would answer with.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _redis_server = Reaped(
        Command::new("taskset")
            .args([
                "-c",
                "0",
                "redis-server",
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let redis_url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    for i in 0..USERS {
        let v = service.lookup(&lookup(i), now).unwrap();
        redis::cmd("SET").arg(format!("vec:{}", user(i))).arg(v.to_vec()).query::<()>(&mut con).unwrap();
    }

    println!("latency in µs:                              p50      p99     p99.9       max");
    let mut rng = Rng(7);
    let mut inproc = Vec::new();
    let mut with_json = Vec::new();
    for i in 0..400_000 {
        let l = lookup(rng.next());
        let t = Instant::now();
        // The typed answer (what a library caller gets), or, every other lookup, its JSON
        // written as the server sends it.
        if i % 2 == 0 {
            service.lookup_with(&l, now, |a| std::hint::black_box(a.features.map(|f| f.values))).unwrap();
            inproc.push(t.elapsed().as_secs_f64() * 1e6);
        } else {
            std::hint::black_box(service.lookup_with(&l, now, |a| a.to_vec()).unwrap());
            with_json.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    println!("in-process lookup (200,000)            {}", percentiles(inproc));
    println!("in-process lookup + its JSON (200,000) {}", percentiles(with_json));
    let mut get = Vec::new();
    for _ in 0..50_000 {
        let key = format!("vec:{}", user(rng.next()));
        let t = Instant::now();
        std::hint::black_box(redis::cmd("GET").arg(key).query::<String>(&mut con).unwrap());
        get.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!("Redis GET of the vector (50,000)       {}", percentiles(get));

    // The server on one worker thread pinned to CPU 0 (as is Redis); the load generator on CPU 1.
    let router = http::router(service.clone(), http::Config::default());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(|| pin_to(0))
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    let redis_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    pin_to(1);
    // `FEATC_BENCH_RATES=10000,20000` runs those rates only.
    let rates: Vec<u64> = std::env::var("FEATC_BENCH_RATES")
        .map_or_else(|_| vec![2_000, 5_000, 10_000, 20_000], |r| r.split(',').map(|x| x.parse().unwrap()).collect());
    for rate in rates {
        open_loop(addr, rate, 8, &Http).report(&format!("HTTP GET /v1/features at {rate:>6}/s ({SECONDS}s)"));
        open_loop(redis_addr, rate, 8, &RedisGet).report(&format!("Redis GET at {rate:>6}/s ({SECONDS}s)"));
    }

    // Freshness: an event appended to the log, to its value served, with the server's default
    // poll of 200 ms.
    let follower = service.follow(Duration::from_millis(200), Duration::from_secs(3600));
    let log = Log::open(&data.path().join("log"), "transactions").unwrap();
    let source = common::project_ir(&project).sources.into_iter().next().unwrap();
    let probe = lookup(0);
    let served = |service: &Service| {
        service.lookup(&probe, now).unwrap().to_json()["features"]["lifetime_transactions"].as_i64()
    };
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
}
