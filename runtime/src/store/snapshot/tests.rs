//! Checkpoint files written and read back: bases, deltas, damage and generations.

use super::*;
use crate::operators::state::KeyState;
use crate::value::Value;

fn key(k: &str, max_ts: i64) -> (Vec<Value>, KeyState) {
    (vec![Value::Str(k.into())], KeyState { max_ts, windows: Vec::new(), changed: 0 })
}

fn state(keys: Vec<(Vec<Value>, KeyState)>, accepted: u64) -> GroupSnapshot {
    GroupSnapshot { name: "g".to_owned(), keys, dead_count: accepted / 10, accepted }
}

fn text(s: &GroupSnapshot) -> String {
    serde_json::to_string(s).unwrap()
}

fn found(dir: &Path) -> (Snapshot, Chain) {
    match read(dir, "g", "v") {
        Loaded::Found(s, c) => (*s, c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_damaged_base_is_reported_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(read(dir.path(), "g", "v"), Loaded::Missing));
    let (generation, _) = write(dir.path(), "g", "v", vec![("t".to_owned(), 10)], state(vec![key("a", 1)], 7)).unwrap();
    assert!(matches!(read(dir.path(), "g", "v"), Loaded::Found(..)));
    assert!(matches!(read(dir.path(), "g", "w"), Loaded::Missing));
    let file = base_path(dir.path(), "g", "v", generation);
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    assert!(matches!(read(dir.path(), "g", "v"), Loaded::Unreadable(_)));
    // One byte changed anywhere is caught by the checksum.
    for at in [0, 30, good.len() - 2] {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        std::fs::write(&file, &bad).unwrap();
        assert!(matches!(read(dir.path(), "g", "v"), Loaded::Unreadable(_)), "byte {at}");
    }
}

#[test]
fn deltas_replay_onto_their_base_and_a_damaged_one_ends_the_chain_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (generation, base_bytes) =
        write(d, "g", "v", vec![("t".to_owned(), 10)], state(vec![key("a", 1), key("b", 2)], 10)).unwrap();
    let one =
        write_delta(d, "g", "v", (generation, 1), vec![("t".to_owned(), 20)], state(vec![key("b", 5)], 20)).unwrap();
    let two = write_delta(
        d,
        "g",
        "v",
        (generation, 2),
        vec![("t".to_owned(), 30)],
        state(vec![key("a", 8), key("c", 9)], 30),
    )
    .unwrap();
    let (s, chain) = found(d);
    assert_eq!(
        chain,
        Chain {
            generation,
            deltas: 2,
            base_bytes,
            delta_bytes: one + two,
            stopped: None,
            passed: Vec::new(),
            continuable: true
        }
    );
    assert_eq!(s.offsets, vec![("t".to_owned(), 30)]);
    assert_eq!(text(&s.state), text(&state(vec![key("a", 8), key("b", 5), key("c", 9)], 30)));

    // Delta 2 damaged: the state as of delta 1, with its offsets.
    let file = delta_path(d, "g", "v", generation, 2);
    let mut bad = std::fs::read(&file).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&file, bad).unwrap();
    let (s, chain) = found(d);
    assert_eq!(chain.deltas, 1);
    assert!(chain.stopped.as_deref().is_some_and(|w| w.contains("checksum")), "{chain:?}");
    // The damaged delta is still on disk: the next checkpoint must not continue this chain.
    assert!(!chain.continuable);
    assert_eq!(s.offsets, vec![("t".to_owned(), 20)]);
    assert_eq!(text(&s.state), text(&state(vec![key("a", 1), key("b", 5)], 20)));

    // A delta of another generation is never applied, even under the next delta's name.
    let (next, _) = write(d, "g", "v", vec![("t".to_owned(), 40)], state(vec![key("z", 1)], 40)).unwrap();
    assert_eq!(next, generation + 1);
    write_delta(d, "g", "v", (generation, 1), vec![("t".to_owned(), 50)], state(vec![key("y", 1)], 50)).unwrap();
    std::fs::rename(delta_path(d, "g", "v", generation, 1), delta_path(d, "g", "v", next, 1)).unwrap();
    let (s, chain) = found(d);
    assert_eq!(chain.deltas, 0);
    assert!(chain.stopped.is_some());
    assert_eq!(text(&s.state), text(&state(vec![key("z", 1)], 40)));
}

#[test]
fn a_new_base_keeps_the_generation_before_it_and_removes_every_other_file_of_its_group_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "g", "old", Vec::new(), state(Vec::new(), 0)).unwrap();
    let (g1, _) = write(d, "g", "v", Vec::new(), state(vec![key("a", 1)], 1)).unwrap();
    write_delta(d, "g", "v", (g1, 1), Vec::new(), state(vec![key("a", 2)], 2)).unwrap();
    std::fs::write(d.join("g.v.snapshot.json"), b"featc.snapshot/v3 0\n{}").unwrap();
    std::fs::write(d.join("g.w.snapshot.json"), b"featc.snapshot/v3 0\n{}").unwrap();
    // A snapshot of the earlier JSON format is reported (its group replays), not taken as none.
    assert!(matches!(read(d, "g", "w"), Loaded::Unreadable(why) if why.contains("featc.snapshot/v3")));
    write(d, "g_other", "v", Vec::new(), state(Vec::new(), 0)).unwrap();
    let (g2, _) = write(d, "g", "v", Vec::new(), state(vec![key("a", 3)], 3)).unwrap();
    assert_eq!(g2, g1 + 1);
    let names = || {
        let mut names: Vec<String> =
            std::fs::read_dir(d).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(),
        vec![
            format!("g.v.{g1}.1.delta"),
            format!("g.v.{g1}.base"),
            format!("g.v.{g2}.base"),
            "g_other.v.1.base".to_owned()
        ]
    );
    assert_eq!(found(d).0.state.keys[0].1.max_ts, 3);
    let (g3, _) = write(d, "g", "v", Vec::new(), state(vec![key("a", 4)], 4)).unwrap();
    assert_eq!(names(), vec![format!("g.v.{g2}.base"), format!("g.v.{g3}.base"), "g_other.v.1.base".to_owned()]);
}

/// The group's checkpoints as of each time: base (a: 1, b: 2), delta 1 (b: 5), delta 2 (a: 8,
/// c: 9), then a new generation (a: 8, b: 12, c: 9) and its delta 1 (d: 15).
fn history(d: &Path) -> (u64, u64) {
    let (g1, _) = write(d, "g", "v", vec![("t".to_owned(), 10)], state(vec![key("a", 1), key("b", 2)], 10)).unwrap();
    write_delta(d, "g", "v", (g1, 1), vec![("t".to_owned(), 20)], state(vec![key("b", 5)], 20)).unwrap();
    write_delta(d, "g", "v", (g1, 2), vec![("t".to_owned(), 30)], state(vec![key("a", 8), key("c", 9)], 30)).unwrap();
    let all = vec![key("a", 8), key("b", 12), key("c", 9)];
    let (g2, _) = write(d, "g", "v", vec![("t".to_owned(), 40)], state(all, 40)).unwrap();
    write_delta(d, "g", "v", (g2, 1), vec![("t".to_owned(), 50)], state(vec![key("d", 15)], 50)).unwrap();
    (g1, g2)
}

#[test]
fn the_state_as_of_a_time_is_the_last_checkpoint_that_holds_no_event_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (g1, g2) = history(d);
    // (until, generation, deltas, offset, keys and their latest events)
    type Case<'a> = (i64, u64, u32, u64, &'a [(&'a str, i64)]);
    let cases: [Case; 6] = [
        (2, g1, 0, 10, &[("a", 1), ("b", 2)]),
        (4, g1, 0, 10, &[("a", 1), ("b", 2)]),
        (5, g1, 1, 20, &[("a", 1), ("b", 5)]),
        (11, g1, 2, 30, &[("a", 8), ("b", 5), ("c", 9)]),
        (12, g2, 0, 40, &[("a", 8), ("b", 12), ("c", 9)]),
        (100, g2, 1, 50, &[("a", 8), ("b", 12), ("c", 9), ("d", 15)]),
    ];
    for (until, generation, deltas, offset, keys) in cases {
        let Loaded::Found(s, chain) = read_until(d, "g", "v", Some(until)) else { panic!("{until}") };
        assert_eq!((chain.generation, chain.deltas), (generation, deltas), "{until}");
        assert_eq!(s.offsets, vec![("t".to_owned(), offset)], "{until}");
        let expected = state(keys.iter().map(|(k, t)| key(k, *t)).collect(), offset);
        assert_eq!(text(&s.state), text(&expected), "{until}");
        assert!(!chain.continuable, "a state of the past is not continued: {until}");
    }
    assert!(matches!(read_until(d, "g", "v", Some(1)), Loaded::Later(2)));
    let (latest, chain) = found(d);
    assert_eq!((chain.generation, chain.deltas, chain.continuable), (g2, 1, true));
    assert_eq!(latest.state.latest_event(), Some(15));
}

#[test]
fn a_damaged_base_falls_back_to_the_generation_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (g1, g2) = history(d);
    let file = base_path(d, "g", "v", g2);
    let mut bad = std::fs::read(&file).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&file, bad).unwrap();
    let (s, chain) = found(d);
    assert_eq!((chain.generation, chain.deltas), (g1, 2));
    assert_eq!(s.offsets, vec![("t".to_owned(), 30)]);
    assert!(chain.passed.len() == 1 && chain.passed[0].contains("checksum"), "{chain:?}");
    // Not the newest generation: the next checkpoint starts a new one.
    assert!(!chain.continuable);
    std::fs::remove_file(base_path(d, "g", "v", g1)).unwrap();
    assert!(matches!(read(d, "g", "v"), Loaded::Unreadable(why) if why.contains("checksum")));
}

#[test]
fn a_chain_with_a_later_delta_past_a_gap_is_not_continued() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (g1, _) = write(d, "g", "v", Vec::new(), state(vec![key("a", 1)], 1)).unwrap();
    write_delta(d, "g", "v", (g1, 2), Vec::new(), state(vec![key("a", 2)], 2)).unwrap();
    let (s, chain) = found(d);
    assert_eq!((chain.deltas, chain.stopped.as_deref()), (0, None));
    assert_eq!(s.state.latest_event(), Some(1));
    // Writing delta 1 now would put the old delta 2 after it.
    assert!(!chain.continuable);
}
