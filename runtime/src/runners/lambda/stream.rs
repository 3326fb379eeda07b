//! A Lambda project whose batch view stays on disk in, every key's feature vector as of a time
//! out (`featc materialize --target lambda`): the view's keys are read from its files one at a
//! time and merged with the speed layer as they come, never loaded into the view's state, on
//! every core. The vectors are those [`LambdaRunner::lookup`] gives with the view loaded.

use std::path::Path;

use featc::ir::FeatureIr;

use super::LambdaRunner;
use crate::operators::state::KeyState;
use crate::runners::kappa::ReplayReport;
use crate::runners::reader::on_every_core;
use crate::store::view;
use crate::value::{Value, sorted_by_key_values};

/// Keys read from the view, then answered together on every core.
const KEYS_PER_RUN: usize = 16_384;

/// Every key of a group in order, with its feature vector (`None`: no layer has the key).
pub type Vectors = (Vec<Vec<Value>>, Vec<Option<Vec<Value>>>);

/// The Lambda runtime with its batch view left on disk: the speed layer in memory, the view's
/// keys read from its files when a snapshot is asked for.
#[derive(Debug)]
pub struct ViewOnDisk {
    runner: LambdaRunner,
    /// Each group's view file, open and checked.
    files: Vec<view::CheckedFile>,
}

impl ViewOnDisk {
    /// Opens the speed layer over the logs beside the stored view; `None` when the view cannot
    /// serve as it stands (see [`crate::store::view::on_disk`]): the caller loads it, or has it
    /// computed. Also returns what seeding the logs did.
    pub fn open(
        ir: FeatureIr,
        project_dir: &Path,
        data_dir: &Path,
    ) -> Result<Option<(ViewOnDisk, Vec<String>)>, String> {
        let Some((batch_view, files)) = view::on_disk(&ir, data_dir)? else { return Ok(None) };
        let (runner, seeded) = LambdaRunner::open(ir, project_dir, data_dir, batch_view)?;
        Ok(Some((ViewOnDisk { runner, files }, seeded)))
    }

    pub fn ir(&self) -> &FeatureIr {
        self.runner.ir()
    }

    /// See [`LambdaRunner::read_until`].
    pub fn read_until(&mut self, t: i64) {
        self.runner.read_until(t);
    }

    /// See [`LambdaRunner::backlog`].
    pub fn backlog(&self) -> Result<u64, String> {
        self.runner.backlog()
    }

    /// See [`LambdaRunner::catch_up`].
    pub fn catch_up(&mut self, progress: impl FnMut(u64)) -> Result<ReplayReport, String> {
        self.runner.catch_up(progress)
    }

    /// Every key of group `gi` in any layer, in order, with its feature vector as of `t` (at or
    /// after the cutoff and every key's latest event): the view's keys as its file gives them,
    /// answered a run at a time on every core, then the speed layer's keys the view lacks.
    pub fn vectors(&self, gi: usize, t: i64) -> Result<Vectors, String> {
        self.vectors_in_runs(gi, t, KEYS_PER_RUN)
    }

    /// [`ViewOnDisk::vectors`], the view's keys answered `per_run` at a time (tests use small
    /// runs, so that a few keys go through several).
    pub fn vectors_in_runs(&self, gi: usize, t: i64, per_run: usize) -> Result<Vectors, String> {
        let per_run = per_run.max(1);
        let serving = self.runner.serving(gi)?;
        let (g, file) = (serving.g, self.files.get(gi).ok_or_else(|| format!("no group {gi}"))?);
        let answer = |run: &[(Vec<Value>, KeyState)]| on_every_core(run, |(k, s)| serving.lookup_in(k, Some(s), t));
        // Runs are answered on other threads while this one reads the next (the file's
        // decoding has threads of its own), so that every core stays busy.
        let answered = std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<Vec<(Vec<Value>, KeyState)>>(2);
            let answerer = scope.spawn(move || {
                let mut answered: Vec<(Vec<Value>, Option<Vec<Value>>)> = Vec::new();
                for run in receive {
                    let vectors = answer(&run)?;
                    answered.extend(run.into_iter().map(|(k, _)| k).zip(vectors));
                }
                Ok::<_, String>(answered)
            });
            let mut run: Vec<(Vec<Value>, KeyState)> = Vec::with_capacity(per_run);
            let read = view::stream_keys(g, file, &mut |key, state| {
                run.push((key, state));
                if run.len() == per_run {
                    let full = std::mem::replace(&mut run, Vec::with_capacity(per_run));
                    // A closed channel: the answerer failed, and its error is the one reported.
                    send.send(full).map_err(|_| "the answers stopped".to_owned())?;
                }
                Ok(())
            });
            let last = send.send(run);
            drop(send);
            let answered = answerer.join().unwrap_or_else(|e| std::panic::resume_unwind(e))?;
            read?;
            last.map_err(|_| "the answers stopped".to_owned())?;
            Ok::<_, String>(answered)
        })?;
        // The file is in routing order; the speed layer's keys the view lacks come in between.
        let answered = sorted_by_key_values(answered, |a| &a.0);
        // A key's rows are together in a file featc wrote: one found twice makes the file
        // suspect (the loaded view refuses it too, and has the group computed again).
        if let Some(twice) = answered.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("{}: key {:?} is there twice", file.file.path.display(), twice[0].0));
        }
        // The runner's view holds no keys: its keys are the speed layer's, in order.
        let only_speed = not_in(self.runner.keys(gi), &answered);
        let speed_vectors = on_every_core(&only_speed, |k| serving.lookup_in(k, None, t))?;
        Ok(merged(answered, only_speed.into_iter().zip(speed_vectors).collect()))
    }
}

/// The keys of `keys` (in order) that `answered` (in order) lacks.
fn not_in(keys: Vec<Vec<Value>>, answered: &[(Vec<Value>, Option<Vec<Value>>)]) -> Vec<Vec<Value>> {
    let mut at = 0;
    keys.into_iter()
        .filter(|k| {
            while answered.get(at).is_some_and(|(a, _)| a < k) {
                at += 1;
            }
            answered.get(at).is_none_or(|(a, _)| a != k)
        })
        .collect()
}

/// Two runs of keys in order, each with its vector, as one run in order (no key in both).
fn merged(a: Vec<(Vec<Value>, Option<Vec<Value>>)>, b: Vec<(Vec<Value>, Option<Vec<Value>>)>) -> Vectors {
    let (mut keys, mut vectors) = (Vec::with_capacity(a.len() + b.len()), Vec::with_capacity(a.len() + b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if y.0 < x.0 => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        };
        let Some((k, v)) = next else { break };
        keys.push(k);
        vectors.push(v);
    }
    (keys, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Vec<Value> {
        vec![Value::from(s)]
    }

    #[test]
    fn keys_the_view_lacks_are_found_and_merged_in_order() {
        let answered: Vec<_> = ["b", "d", "f"].iter().map(|k| (key(k), Some(vec![Value::from(*k)]))).collect();
        let speed: Vec<_> = ["a", "b", "c", "f", "g"].iter().map(|k| key(k)).collect();
        let only = not_in(speed, &answered);
        assert_eq!(only, vec![key("a"), key("c"), key("g")]);
        let (keys, vectors) = merged(answered, only.into_iter().map(|k| (k, None)).collect());
        assert_eq!(keys, ["a", "b", "c", "d", "f", "g"].map(key).to_vec());
        assert_eq!(vectors.iter().filter(|v| v.is_some()).count(), 3);
        assert_eq!(vectors[1], Some(vec![Value::from("b")]));
    }
}
