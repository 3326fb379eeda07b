//! Values' hashes in, an estimate of how many distinct values there were out: HyperLogLog with
//! precision 12 and a sparse mode that is exact for small sets.
//!
//! The state depends only on the set of distinct hashes inserted, never on their order or on
//! how inputs were split and merged: while sparse it *is* that set; it turns dense (4,096
//! registers, each the max leading-zero rank seen) exactly when the set outgrows
//! [`SPARSE_LIMIT`], and dense registers merge by max. So the estimate is bit-identical
//! however the work was divided. Error: exact while sparse; relative standard error
//! 1.04 / sqrt(4096) = 1.6% once dense.

/// Precision: 2^12 registers.
pub(crate) const PRECISION: u32 = 12;
const REGISTERS: usize = 1 << PRECISION;
/// The largest set kept exactly; beyond it, registers. 512 hashes of 8 bytes is 4 KiB, the
/// size of the dense registers.
pub const SPARSE_LIMIT: usize = 512;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Hll {
    /// The distinct hashes, ascending (a vector: a pane's set holds a few).
    Sparse(#[serde(deserialize_with = "ascending")] Vec<u64>),
    /// `REGISTERS` registers.
    Dense(Vec<u8>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::Sparse(Vec::new())
    }
}

/// A sparse set as stored (by this release or an earlier one, which kept a B-tree set):
/// ascending and each hash once.
fn ascending<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let mut set = <Vec<u64> as serde::Deserialize>::deserialize(d)?;
    set.sort_unstable();
    set.dedup();
    Ok(set)
}

impl Hll {
    pub fn insert_hash(&mut self, hash: u64) {
        match self {
            Hll::Sparse(set) => {
                if let Err(at) = set.binary_search(&hash) {
                    super::insert_tight(set, at, hash);
                    if set.len() > SPARSE_LIMIT {
                        self.densify();
                    }
                }
            }
            Hll::Dense(registers) => set_register(registers, hash),
        }
    }

    fn densify(&mut self) {
        if let Hll::Sparse(set) = self {
            let mut registers = vec![0u8; REGISTERS];
            for &h in set.iter() {
                set_register(&mut registers, h);
            }
            *self = Hll::Dense(registers);
        }
    }

    /// A dense sketch from its registers, as [`Hll::Dense`] holds them; refused unless there
    /// are 4,096 of them and each is a rank a hash can give.
    pub fn from_registers(bytes: &[u8]) -> Result<Hll, String> {
        let top = (64 - PRECISION + 1) as u8;
        if bytes.len() != REGISTERS || bytes.iter().any(|&r| r > top) {
            return Err(format!("HyperLogLog registers must be {REGISTERS} bytes, each at most {top}"));
        }
        Ok(Hll::Dense(bytes.to_vec()))
    }

    pub fn merge(&mut self, other: &Hll) {
        match other {
            Hll::Sparse(theirs) => {
                for &h in theirs {
                    self.insert_hash(h);
                }
            }
            Hll::Dense(theirs) => {
                self.densify();
                if let Hll::Dense(mine) = self {
                    for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                        *m = (*m).max(*t);
                    }
                }
            }
        }
    }

    /// The estimated number of distinct values: exact while sparse.
    pub fn estimate(&self) -> u64 {
        match self {
            Hll::Sparse(set) => set.len() as u64,
            Hll::Dense(registers) => {
                let m = REGISTERS as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let (mut sum, mut zeros) = (0.0f64, 0usize);
                for &r in registers.iter() {
                    sum += 2f64.powi(-i32::from(r));
                    if r == 0 {
                        zeros += 1;
                    }
                }
                let raw = alpha * m * m / sum;
                let estimate = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
                estimate.round() as u64
            }
        }
    }

    /// Bytes of state, for state accounting.
    pub fn bytes(&self) -> usize {
        match self {
            Hll::Sparse(set) => 24 + set.capacity() * 8,
            Hll::Dense(_) => REGISTERS,
        }
    }
}

fn set_register(registers: &mut [u8], hash: u64) {
    let index = (hash >> (64 - PRECISION)) as usize;
    let rest = hash << PRECISION;
    // Rank of the first 1 bit in the remaining 52 bits, from 1.
    let rank = (rest.leading_zeros().min(64 - PRECISION) + 1) as u8;
    if let Some(r) = registers.get_mut(index) {
        *r = (*r).max(rank);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(range: std::ops::Range<u64>) -> Hll {
        let mut h = Hll::default();
        for i in range {
            h.insert_hash(crate::operators::aggregate::value_hash(&crate::value::Value::I64(i as i64)));
        }
        h
    }

    /// The hashes are Spark's `xxhash64` (values computed by Spark 4.3: `SELECT xxhash64(...)`).
    #[test]
    fn value_hashes_are_sparks_xxhash64() {
        use crate::operators::aggregate::value_hash;
        use crate::value::Value;
        let spark = |x: i64| u64::from_ne_bytes(x.to_ne_bytes());
        assert_eq!(value_hash(&Value::from("abc")), spark(1_423_657_621_850_124_518));
        assert_eq!(value_hash(&Value::from("")), spark(-7_444_071_767_201_028_348));
        assert_eq!(value_hash(&Value::from("héllo merchant_7")), spark(1_367_195_401_129_338_627));
        assert_eq!(value_hash(&Value::I64(1)), spark(-7_001_672_635_703_045_582));
        assert_eq!(value_hash(&Value::I64(-7)), spark(-1_663_473_129_717_591_079));
        assert_eq!(value_hash(&Value::F64(1.5)), spark(7_738_255_526_519_901_366));
        assert_eq!(value_hash(&Value::F64(-0.0)), spark(-5_252_525_462_095_825_812));
        assert_eq!(value_hash(&Value::F64(0.0)), spark(-5_252_525_462_095_825_812));
        assert_eq!(value_hash(&Value::Bool(true)), spark(-6_698_625_589_789_238_999));
        assert_eq!(value_hash(&Value::Bool(false)), spark(3_614_696_996_920_510_707));
        // A time hashes as its epoch milliseconds (the SQL hashes `unix_millis(ts)`).
        assert_eq!(value_hash(&Value::Ts(1_700_000_000_123)), spark(-2_686_027_409_385_495_053));
    }

    #[test]
    fn exact_while_sparse_then_within_the_stated_error() {
        assert_eq!(sketch(0..100).estimate(), 100);
        assert_eq!(sketch(0..SPARSE_LIMIT as u64).estimate(), SPARSE_LIMIT as u64);
        for n in [1_000u64, 10_000, 100_000, 1_000_000] {
            let e = sketch(0..n).estimate() as f64;
            // Four standard errors: a failure here is not bad luck.
            assert!((e - n as f64).abs() / (n as f64) < 4.0 * 0.0163, "n = {n}, estimate {e}");
        }
    }

    #[test]
    fn splits_and_merge_order_give_identical_state() {
        let whole = sketch(0..5_000);
        let mut a = sketch(0..100);
        let b = sketch(100..2_000);
        let c = sketch(1_500..5_000);
        a.merge(&c);
        a.merge(&b);
        assert_eq!(a, whole);
        let mut small = sketch(0..10);
        small.merge(&sketch(5..400));
        assert_eq!(small, sketch(0..400));
    }
}
