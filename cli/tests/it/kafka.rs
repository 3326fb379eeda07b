//! A real Kafka-compatible broker (tansu, SQLite storage) on a free loopback port in, the same
//! features as the embedded log out: `featc produce` puts a project's history on a topic of
//! several partitions, `featc run` replays it and follows it, checkpoints carry the offsets of
//! every partition, and payloads that are not events go to the dead letters.
//!
//! The broker is `tansu` on the PATH, or the binary `FEATC_TANSU` names (`scripts/test`
//! installs it). Without it these tests fail: they never skip.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A tansu broker with its SQLite file in a temporary folder, stopped on drop.
struct Tansu {
    child: Child,
    brokers: String,
    _dir: tempfile::TempDir,
}

impl Tansu {
    fn start() -> Tansu {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let child = Tansu::spawn(dir.path(), port);
        Tansu { child, brokers: format!("127.0.0.1:{port}"), _dir: dir }
    }

    /// Starts tansu on `port` with its SQLite file in `dir`, and waits until it listens.
    fn spawn(dir: &Path, port: u16) -> Child {
        let url = format!("tcp://127.0.0.1:{port}");
        let binary = std::env::var("FEATC_TANSU").unwrap_or_else(|_| "tansu".to_owned());
        let mut child = Command::new(&binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} runs (scripts/test installs tansu): {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            // It exited (the port taken by another test meanwhile, say): say so, do not talk
            // to whatever else listens there.
            assert!(child.try_wait().expect("tansu's status").is_none(), "tansu exited at start");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// Kills the broker (SIGKILL), leaves it down for `down`, and starts it again on the same
    /// port and storage.
    fn restart(&mut self, down: Duration) {
        self.child.kill().expect("SIGKILL tansu");
        self.child.wait().expect("reaped");
        std::thread::sleep(down);
        let port = self.brokers.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        self.child = Tansu::spawn(self._dir.path(), port);
    }

    /// Asserts that `get` answers alike for each user from the embedded log of `embedded` and
    /// from this broker for `kafka`.
    fn assert_same_features(&self, users: &[&str], embedded: &Path, kafka: &Path) {
        for user in users {
            let key = format!("user_id={user}");
            let a = features(&featc(&["get", ".", "--key", &key], embedded));
            let b = features(&self.featc(&["get", ".", "--key", &key], kafka));
            assert_eq!(a, b, "{user}");
        }
    }

    /// The first `n` messages of partition 0 of `topic`, as (key, payload) text.
    fn read_topic(&self, topic: &str, n: usize) -> Vec<(String, String)> {
        use rdkafka::Message as _;
        use rdkafka::consumer::Consumer as _;
        let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", "featc-test")
            .create()
            .expect("consumer");
        let mut assignment = rdkafka::TopicPartitionList::new();
        assignment.add_partition_offset(topic, 0, rdkafka::Offset::Beginning).expect("partition");
        consumer.assign(&assignment).expect("assigned");
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        let mut out = Vec::new();
        while out.len() < n {
            match consumer.poll(Duration::from_secs(30)) {
                Some(Ok(m)) => out.push((text(m.key()), text(m.payload()))),
                Some(Err(e)) => panic!("reading `{topic}`: {e}"),
                None => panic!("`{topic}` holds {} messages, not {n}", out.len()),
            }
        }
        out
    }

    /// How many messages partition 0 of `topic` holds.
    fn topic_end(&self, topic: &str) -> i64 {
        self.partition_end(topic, 0)
    }

    /// The offset after the last message of partition `p` of `topic`.
    fn partition_end(&self, topic: &str, p: i32) -> i64 {
        use rdkafka::consumer::Consumer as _;
        let consumer: rdkafka::consumer::BaseConsumer =
            rdkafka::ClientConfig::new().set("bootstrap.servers", &self.brokers).create().expect("consumer");
        consumer.fetch_watermarks(topic, p, Duration::from_secs(30)).expect("watermarks").1
    }

    /// Runs `featc` with the project's sources bound to this broker.
    fn featc(&self, args: &[&str], dir: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_featc"))
            .args(args)
            .env("FEATC_KAFKA_BROKERS", &self.brokers)
            .current_dir(dir)
            .output()
            .expect("featc runs")
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed (SIGKILL) when dropped, should the test fail first.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `n` click events of `users` users, spread over a day, amounts in cents.
fn clicks(n: usize, users: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (h, m, s) = (i * 7 / 60 / 60 % 24, i * 7 / 60 % 60, i * 7 % 60);
            let cents = (i * 37 % 1000) as f64 / 100.0;
            format!("{{\"user_id\":\"u{}\",\"amount\":{cents},\"ts\":\"2024-01-01T{h:02}:{m:02}:{s:02}Z\"}}", i % users)
        })
        .collect()
}

/// Two projects of `events`: the reference, with all of them as its history on the embedded
/// log, and one whose first `produced` events are produced to the broker's topic (created with
/// `partitions` partitions); also what `featc produce` said.
fn reference_and_kafka(
    broker: &Tansu,
    events: &[String],
    produced: usize,
    partitions: &str,
) -> (tempfile::TempDir, tempfile::TempDir, String) {
    let all: Vec<&str> = events.iter().map(String::as_str).collect();
    let reference = clicks_project(&all);
    let kafka = clicks_project(&all[..produced]);
    let said = ok(&broker.featc(&["produce", ".", "--source", "clicks", "--partitions", partitions], kafka.path()));
    (reference, kafka, said)
}

fn features(out: &Output) -> serde_json::Value {
    ok(out);
    serde_json::from_slice(&out.stdout).expect("get prints JSON")
}

#[test]
fn a_replay_from_kafka_gives_the_features_of_the_embedded_log() {
    let broker = Tansu::start();
    let events = clicks(2000, 40);
    let (embedded, kafka, produced) = reference_and_kafka(&broker, &events, 2000, "4");
    assert!(produced.contains("produced 2000 events"), "{produced}");
    let ran = ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    assert!(ran.contains("2000"), "{ran}");
    // The embedded log was never written: the events came from the broker.
    assert!(!kafka.path().join(".featc/log").exists());
    broker.assert_same_features(&["u0", "u7", "u39", "nobody"], embedded.path(), kafka.path());
}

#[test]
fn both_targets_read_kafka_and_agree() {
    // The history files hold the first 1,000 events (Lambda's batch layer reads them); the
    // topic holds all 1,500 (Kappa replays them all; Lambda's speed layer reads those after
    // the batch cutoff).
    let broker = Tansu::start();
    let events = clicks(1500, 30);
    let all: Vec<&str> = events.iter().map(String::as_str).collect();
    let whole = clicks_project(&all);
    let kafka = clicks_project(&all[..1000]);
    std::fs::write(kafka.path().join("all.ndjson"), events.join("\n") + "\n").expect("all");
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "--partitions", "2", "all.ndjson"], kafka.path()));
    ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    let lambda = ok(&broker.featc(&["run", ".", "--target", "lambda", "--until-caught-up"], kafka.path()));
    // The speed layer reads the whole topic and counts what lies after the batch cutoff.
    assert!(lambda.contains("speed layer: read 1500 events in 1 replay of the log"), "{lambda}");
    for user in ["u0", "u11", "u29"] {
        let key = format!("user_id={user}");
        let reference = features(&featc(&["get", ".", "--key", &key], whole.path()));
        for target in ["kappa", "lambda"] {
            let got = features(&broker.featc(&["get", ".", "--target", target, "--key", &key], kafka.path()));
            assert_eq!(got[0]["features"], reference[0]["features"], "{user} {target}");
        }
    }
    // `verify` reads the topic too: both targets and the reference over its 1,500 events.
    let verified = broker.featc(&["verify", "."], kafka.path());
    ok(&verified);
    let said = text(&verified.stdout);
    assert!(said.contains("(1500 events") && said.contains(": 0 differences"), "{said}");
}

#[test]
fn a_broker_that_goes_away_and_comes_back_loses_nothing() {
    let mut broker = Tansu::start();
    let events = clicks(1200, 20);
    let (whole, kafka, _) = reference_and_kafka(&broker, &events, 600, "2");
    let log = kafka.path().join("run.log");
    let mut run = Killed(
        Command::new(env!("CARGO_BIN_EXE_featc"))
            .args(["run", ".", "--target", "kappa"])
            .env("FEATC_KAFKA_BROKERS", &broker.brokers)
            .current_dir(kafka.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("featc run starts"),
    );
    // Until the following run says it has read `n` events (its replay, then its reads).
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let read: u64 = text
                .lines()
                .filter_map(|l| {
                    let l = l.split_once("read ").map_or(l, |(_, rest)| rest);
                    l.strip_suffix(" new events").or_else(|| l.split_once(" new events;").map(|(n, _)| n))
                })
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .sum::<u64>()
                + u64::from(text.contains("replayed 600 events")) * 600;
            if read >= n {
                assert_eq!(read, n, "{text}");
                return text;
            }
            assert!(Instant::now() < deadline, "the run read {read} of {n} events: {text}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(600);
    // The broker dies and stays away for a while; the run goes on following, and reads what
    // is produced once the broker is back.
    broker.restart(Duration::from_secs(3));
    std::fs::write(kafka.path().join("more.ndjson"), events[600..].join("\n") + "\n").expect("more");
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "more.ndjson"], kafka.path()));
    let said = wait_for(1200);
    assert!(run.0.try_wait().expect("status").is_none(), "the run stopped: {said}");
    assert!(said.contains("(retrying)") || said.contains("trying again"), "the outage went unseen: {said}");
    run.0.kill().expect("SIGKILL");
    run.0.wait().expect("reaped");
    let users: Vec<String> = (0..20).map(|u| format!("u{u}")).collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    broker.assert_same_features(&users, whole.path(), kafka.path());
}

#[test]
fn a_sinking_group_publishes_each_changed_vector_to_its_changelog() {
    let broker = Tansu::start();
    let events = clicks(600, 30);
    let lines: Vec<&str> = events.iter().map(String::as_str).collect();
    let kafka = clicks_project(&lines);
    std::fs::write(kafka.path().join("featc.toml"), "[kafka.sink]\nuser_clicks = \"features.clicks\"\n").expect("toml");
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "--partitions", "2"], kafka.path()));
    let ran = ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    assert!(ran.contains("feature vectors published to Kafka: 30"), "{ran}");
    // One message per key, its vector what `get` answers (as of the key's latest event).
    let check = |messages: &[(String, String)]| {
        for (key, payload) in messages {
            let sent: serde_json::Value = serde_json::from_str(payload).expect("JSON");
            let user = sent["key"]["user_id"].as_str().expect("user").to_owned();
            assert_eq!(key, &format!("[\"{user}\"]"));
            let got = features(&broker.featc(&["get", ".", "--key", &format!("user_id={user}")], kafka.path()));
            assert_eq!(sent["features"], got[0]["features"], "{user}");
            assert_eq!(sent["as_of"], got[0]["as_of"], "{user}");
        }
    };
    let first = broker.read_topic("features.clicks", 30);
    let users: std::collections::BTreeSet<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(users.len(), 30);
    // (A sample: each `get` replays the topic.)
    check(&first.iter().step_by(5).cloned().collect::<Vec<_>>());
    // New events of three users, u3's older than its latest (01:06:51) but on time: the next
    // run publishes those three only.
    let more = [
        r#"{"user_id":"u1","amount":1.0,"ts":"2024-01-02T00:00:00Z"}"#,
        r#"{"user_id":"u2","amount":2.0,"ts":"2024-01-02T00:00:01Z"}"#,
        r#"{"user_id":"u1","amount":3.0,"ts":"2024-01-02T00:00:02Z"}"#,
        r#"{"user_id":"u3","amount":4.0,"ts":"2024-01-01T01:06:30Z"}"#,
    ];
    std::fs::write(kafka.path().join("more.ndjson"), more.join("\n") + "\n").expect("more");
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "more.ndjson"], kafka.path()));
    let again = ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    assert!(again.contains("feature vectors published to Kafka: 3"), "{again}");
    assert_eq!(broker.topic_end("features.clicks"), 33);
    let all = broker.read_topic("features.clicks", 33);
    let last: Vec<&str> = all[30..].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(last, [r#"["u1"]"#, r#"["u2"]"#, r#"["u3"]"#]);
    check(&all[30..]);
}

#[test]
fn a_restart_resumes_every_partition_from_its_checkpoint() {
    let broker = Tansu::start();
    let events = clicks(1200, 30);
    let (whole, kafka, _) = reference_and_kafka(&broker, &events, 700, "3");
    let second = &events[700..];
    ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    // More events arrive while nothing runs; the next run resumes from the checkpoint.
    std::fs::write(kafka.path().join("more.ndjson"), second.join("\n") + "\n").expect("more");
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "more.ndjson"], kafka.path()));
    let resumed = ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    assert!(resumed.contains("resumed group `user_clicks` from its snapshot"), "{resumed}");
    assert!(resumed.contains("kafka:clicks/0"), "{resumed}");
    broker.assert_same_features(&["u0", "u13", "u29"], whole.path(), kafka.path());
}

#[test]
fn payloads_that_are_not_events_go_to_the_dead_letters_and_the_stream_goes_on() {
    let broker = Tansu::start();
    let kafka = clicks_project(&[
        r#"{"user_id":"u1","amount":1.5,"ts":"2024-01-01T01:00:00Z"}"#,
        r#"{"user_id":"u1","amount":2.5,"ts":"2024-01-01T01:10:00Z"}"#,
    ]);
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "--partitions", "1"], kafka.path()));
    // Lines the history reader would reject never reach a topic: write them raw instead.
    let config = featc_runtime::io::kafka::KafkaConfig { brokers: broker.brokers.clone(), ..Default::default() };
    let ir = ir_of(&kafka.path().join("clicks.feat"));
    let mut producer =
        featc_runtime::io::kafka::produce::EventProducer::open(&config, &ir.sources[0], &["user_id".to_owned()], 1)
            .expect("producer");
    for payload in [&b"not json"[..], br#"[1, 2]"#, br#"{"user_id":"u1","amount":"lots","ts":"2024-01-01T01:20:00Z"}"#]
    {
        producer.send_raw(b"[\"u1\"]", payload).expect("send");
    }
    producer.send_raw(b"[\"u1\"]", br#"{"user_id":"u1","amount":4.0,"ts":"2024-01-01T01:30:00Z"}"#).expect("send");
    producer.finish().expect("flush");
    let ran = ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    assert!(ran.contains("3 dead-lettered"), "{ran}");
    let got = features(&broker.featc(&["get", ".", "--key", "user_id=u1"], kafka.path()));
    assert_eq!(got[0]["features"]["clicks"], 3, "{got}");
    let letters =
        std::fs::read_to_string(kafka.path().join(".featc/dead_letters/clicks.stream-0.ndjson")).expect("dead letters");
    assert_eq!(letters.lines().count(), 3, "{letters}");
    assert!(letters.contains("malformed JSON") && letters.contains("not a JSON object"), "{letters}");
    assert!(letters.contains("kafka:clicks/0"), "{letters}");
    // The dead-letter topic holds the same, keyed by partition and offset.
    let topic = broker.read_topic("clicks.dead-letters", 3);
    let keys: Vec<&str> = topic.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["kafka:clicks/0@2", "kafka:clicks/0@3", "kafka:clicks/0@4"], "{topic:?}");
    for ((_, payload), line) in topic.iter().zip(letters.lines()) {
        let sent: serde_json::Value = serde_json::from_str(payload).expect("JSON");
        let filed: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(sent["reason"], filed["reason"], "{payload} {line}");
        assert_eq!(sent["text"], filed["text"], "{payload} {line}");
    }
    // A replay from offset 0 (the state lost) meets them again: they are not written twice.
    std::fs::remove_dir_all(kafka.path().join(".featc/state")).expect("state removed");
    let again = ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    assert!(again.contains("3 dead-lettered"), "{again}");
    let after =
        std::fs::read_to_string(kafka.path().join(".featc/dead_letters/clicks.stream-0.ndjson")).expect("dead letters");
    assert_eq!(after, letters);
}

/// The IR of a one-file spec.
fn ir_of(path: &Path) -> featc::ir::FeatureIr {
    let mut sources = featc::SourceMap::new();
    sources.add("spec.feat", std::fs::read_to_string(path).expect("spec"));
    let checked = featc::check_project(&sources, &featc::Options { targets: featc::ir::Target::ALL.to_vec() });
    assert!(!checked.has_errors());
    featc::ir::lower(&checked.project).expect("lowered")
}

#[test]
fn sigkill_while_following_a_topic_loses_and_doubles_nothing() {
    let broker = Tansu::start();
    let kills: usize = std::env::var("FEATC_KAFKA_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(6);
    let events = clicks(300 * (kills + 1), 25);
    let (whole, kafka, _) = reference_and_kafka(&broker, &events, 300, "3");
    let rest = &events[300..];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for (i, part) in rest.chunks(300).enumerate() {
        // A run follows the topic while more events arrive; it is killed at a random instant.
        let mut run = Killed(
            Command::new(env!("CARGO_BIN_EXE_featc"))
                .args(["run", ".", "--target", "kappa"])
                .env("FEATC_KAFKA_BROKERS", &broker.brokers)
                .current_dir(kafka.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("featc run starts"),
        );
        let file = format!("part{i}.ndjson");
        std::fs::write(kafka.path().join(&file), part.join("\n") + "\n").expect("part");
        ok(&broker.featc(&["produce", ".", "--source", "clicks", &file], kafka.path()));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 1500));
        run.0.kill().expect("SIGKILL");
        run.0.wait().expect("reaped");
    }
    ok(&broker.featc(&["run", ".", "--target", "kappa", "--until-caught-up"], kafka.path()));
    let users: Vec<String> = (0..25).map(|u| format!("u{u}")).collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    broker.assert_same_features(&users, whole.path(), kafka.path());
}

/// Waits until the file holds `text` (a member's log line), failing after a minute.
fn wait_for(log: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        if said.contains(text) {
            return;
        }
        assert!(Instant::now() < deadline, "waited for `{text}` in {}:\n{said}", log.display());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A member of the project's consumer group (`run --member`), logging to `<name>.log`.
fn member(broker: &Tansu, dir: &Path, name: &str) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_featc"))
            .args(["run", ".", "--target", "kappa", "--member", "--data-dir", "shared", "--checkpoint-every", "1"])
            .env("FEATC_KAFKA_BROKERS", &broker.brokers)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).expect("log"))
            .spawn()
            .expect("featc run --member starts"),
    )
}

/// Stops a member as an operator would (SIGTERM): it checkpoints and leaves the group.
fn stop(member: &mut Killed) {
    let pid = member.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while member.0.try_wait().expect("status").is_none() {
        assert!(Instant::now() < deadline, "member {pid} did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two members of a consumer group share a four-partition topic. The first owns every
/// partition; the second joins, and the rebalance hands it some at their checkpoints; more
/// events arrive; the first leaves, and its partitions go to the second; more events. The
/// features are those of one process over all the events.
#[test]
fn a_consumer_group_of_two_members_gives_the_features_of_one_process() {
    let broker = Tansu::start();
    let events = clicks(3000, 30);
    let (embedded, kafka, _) = reference_and_kafka(&broker, &events, 1000, "4");
    let dir = kafka.path();
    std::fs::write(dir.join("more.ndjson"), events[1000..2000].join("\n") + "\n").expect("more");
    std::fs::write(dir.join("last.ndjson"), events[2000..].join("\n") + "\n").expect("last");
    let (a_log, b_log) = (dir.join("a.log"), dir.join("b.log"));

    let mut a = member(&broker, dir, "a");
    wait_for(&a_log, "owns partitions {0, 1, 2, 3}");
    let mut b = member(&broker, dir, "b");
    wait_for(&a_log, "handed partition");
    wait_for(&b_log, "owns partitions {");
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "more.ndjson"], dir));
    std::thread::sleep(Duration::from_secs(3));
    stop(&mut a);
    wait_for(&b_log, "owns partitions {0, 1, 2, 3}");
    ok(&broker.featc(&["produce", ".", "--source", "clicks", "last.ndjson"], dir));
    std::thread::sleep(Duration::from_secs(3));
    stop(&mut b);

    let (a_said, b_said) = (std::fs::read_to_string(&a_log).expect("a"), std::fs::read_to_string(&b_log).expect("b"));
    assert!(a_said.contains("left the group") && b_said.contains("left the group"), "{a_said}\n{b_said}");
    for p in 0..4 {
        assert!(b_said.contains(&format!("partition {p}: checkpointed on the way out")), "{b_said}");
    }
    // The members read everything: each partition's checkpoint is at the partition's end.
    for p in 0..4 {
        let state = dir.join("shared/partitions").join(p.to_string()).join("state");
        let file = std::fs::read_dir(&state)
            .expect("state")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|name| name.ends_with(".base"))
            .expect("a checkpoint");
        // `<group>.<version>.<generation>.base`
        let mut parts = file.split('.');
        let (group, version) = (parts.next().expect("group"), parts.next().expect("version"));
        let offsets = match featc_runtime::store::snapshot::read(&state, group, version) {
            featc_runtime::store::snapshot::Loaded::Found(s, _) => s.offsets,
            other => panic!("partition {p}: {other:?}"),
        };
        assert_eq!(offsets.len(), 1, "a partition's folder holds its own partition: {offsets:?}");
        assert_eq!(offsets[0].0, format!("kafka:clicks/{p}"));
        assert_eq!(Some(offsets[0].1 as i64), Some(broker.partition_end("clicks", p)), "partition {p}");
    }
    // Each partition's folder holds its keys; a lookup finds a key in its partition's folder.
    let users = ["u0", "u1", "u7", "u13", "u29"];
    for user in users {
        let key = format!("user_id={user}");
        let one = features(&featc(&["get", ".", "--key", &key], embedded.path()));
        let group = features(&broker.featc(&["get", ".", "--key", &key, "--data-dir", "shared"], dir));
        assert_eq!(group, one, "{user}");
    }
}
