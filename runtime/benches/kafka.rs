//! Events on a real Kafka-compatible broker (tansu, SQLite storage) in, replay throughput out:
//! the fraud example's Kappa replay from a 4-partition topic against a bare rdkafka consumer
//! reading the same topic, and the same replay with a snapshot every second (the checkpoint
//! overhead), in one run.
//! Run: `FEATC_TANSU=<tansu binary> cargo bench -p featc-runtime --bench kafka` (`scripts/test`
//! installs tansu under `$FEATC_TOOLS`); `FEATC_BENCH_EVENTS` sets the events (default 200,000).

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use featc_runtime::io::kafka::produce::EventProducer;
use featc_runtime::io::kafka::{KafkaConfig, group};
use featc_runtime::runners::kappa::KappaRunner;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;

/// A tansu broker on a free port, its SQLite file in a temporary folder; killed on drop.
struct Tansu {
    child: Child,
    brokers: String,
    _dir: tempfile::TempDir,
}

impl Tansu {
    fn start() -> Tansu {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let binary = std::env::var("FEATC_TANSU").unwrap_or_else(|_| "tansu".to_owned());
        let child = Command::new(&binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} runs (scripts/test installs tansu): {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu { child, brokers: format!("127.0.0.1:{port}"), _dir: dir }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fraud example's spec in a folder of its own, bound to the broker by its `featc.toml`.
fn project(brokers: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fraud");
    for entry in std::fs::read_dir(&example).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "feat") {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(dir.path().join("featc.toml"), format!("[kafka]\nbrokers = \"{brokers}\"\ngroup = \"bench\"\n"))
        .unwrap();
    dir
}

/// Reads every message of `topic` from offset 0 with a bare consumer, touching each payload;
/// returns the messages and bytes read.
fn bare_consumer(brokers: &str, topic: &str, events: u64) -> (u64, u64) {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-bare")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let (mut messages, mut bytes) = (0, 0);
    while messages < events {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                messages += 1;
                bytes += std::hint::black_box(m.payload().map_or(0, <[u8]>::len)) as u64;
            }
            Some(Err(e)) => panic!("{e}"),
            None => panic!("the broker gave nothing for 10 s after {messages} messages"),
        }
    }
    (messages, bytes)
}

/// A Kappa replay of the project from offset 0 in a fresh data folder, with a snapshot each
/// `every` and one at the end; returns the events read and the snapshots written.
fn replay(project: &Path, every: Duration) -> (u64, u32) {
    let data = tempfile::tempdir().unwrap();
    let (mut runner, _) = KappaRunner::open(common::project_ir(project), project, data.path()).unwrap();
    let (report, snapshots) = runner.catch_up_checkpointing(every, |_| {}, &mut |_| Ok(())).unwrap();
    runner.snapshot().unwrap();
    (report.events, snapshots + 1)
}

/// The Kappa replay of the given partitions, each by a runner in the partition's own folder (as
/// a member of a consumer group runs them), one after the other; returns the events read.
fn member(project: &Path, partitions: &[i32]) -> u64 {
    let shared = tempfile::tempdir().unwrap();
    let mut events = 0;
    for &p in partitions {
        let folder = group::partition_dir(shared.path(), p);
        std::fs::create_dir_all(&folder).unwrap();
        group::mark(&folder, p).unwrap();
        let (mut runner, _) = KappaRunner::open(common::project_ir(project), project, &folder).unwrap();
        events += runner.catch_up_checkpointing(Duration::from_secs(3600), |_| {}, &mut |_| Ok(())).unwrap().0.events;
        runner.snapshot().unwrap();
    }
    events
}

fn main() {
    featc_runtime::process::without_huge_pages();
    let events: usize = std::env::var("FEATC_BENCH_EVENTS").map_or(200_000, |n| n.parse().unwrap());
    let broker = Tansu::start();
    let project = project(&broker.brokers);
    let ir = common::project_ir(project.path());
    let source = &ir.sources[0];
    let config = KafkaConfig::load(project.path()).unwrap().unwrap();
    let topic = config.topic(source);

    let started = Instant::now();
    let mut producer = EventProducer::open(&config, source, &["user_id".to_owned()], PARTITIONS).unwrap();
    let batch = featc_runtime::io::generate::fraud(events, 42).unwrap();
    producer.send(&batch).unwrap();
    let sent = producer.finish().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "produced {sent} events to {PARTITIONS} partitions in {seconds:.1} s ({:.0} events/s)",
        sent as f64 / seconds
    );

    let rate = |n: u64, t: Duration| n as f64 / t.as_secs_f64();
    let mut rows = Vec::new();
    // Twice each, alternating, so neither side alone gets the broker's warm caches.
    for round in 1..=2 {
        let t = Instant::now();
        let (n, bytes) = bare_consumer(&broker.brokers, &topic, sent);
        let bare = t.elapsed();
        let t = Instant::now();
        let (replayed, _) = replay(project.path(), Duration::from_secs(3600));
        let plain = t.elapsed();
        assert_eq!(replayed, sent);
        let t = Instant::now();
        let (replayed, snapshots) = replay(project.path(), Duration::from_secs(1));
        let checkpointed = t.elapsed();
        assert_eq!(replayed, sent);
        rows.push((round, rate(n, bare), bytes, rate(sent, plain), rate(sent, checkpointed), snapshots));
    }
    // Scale-out: one member owning every partition, against two members (threads here, as
    // two processes on this machine would be) owning half each.
    let mut group_rows = Vec::new();
    for round in 1..=2 {
        let t = Instant::now();
        assert_eq!(member(project.path(), &[0, 1, 2, 3]), sent);
        let one = t.elapsed();
        let t = Instant::now();
        let halves = std::thread::scope(|s| {
            let a = s.spawn(|| member(project.path(), &[0, 2]));
            let b = s.spawn(|| member(project.path(), &[1, 3]));
            a.join().unwrap() + b.join().unwrap()
        });
        let two = t.elapsed();
        assert_eq!(halves, sent);
        group_rows.push((round, rate(sent, one), rate(sent, two)));
    }
    println!("round  one member, 4 partitions (events/s)  two members, 2 each (events/s)  speed-up");
    for (round, one, two) in group_rows {
        println!("{round:>5}  {one:>36.0}  {two:>30.0}  {:>8.2}", two / one);
    }
    println!("round  bare consumer (events/s)  featc replay (events/s)  ratio  replay + snapshot each 1 s  overhead");
    for (round, bare, bytes, plain, checkpointed, snapshots) in rows {
        println!(
            "{round:>5}  {bare:>24.0}  {plain:>23.0}  {:>5.2}  {checkpointed:>17.0} ({snapshots:>2} snapshots)  {:>7.1}%   [{:.1} MB of payloads]",
            plain / bare,
            (1.0 - checkpointed / plain) * 100.0,
            bytes as f64 / 1e6
        );
    }
}
