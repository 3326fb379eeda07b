//! Floats and rationals in, correctly rounded sums, means, variances and roots checked.

use num_bigint::{BigInt, BigUint};

use crate::exact::{Moments, ratio_to_f64, scaled_f64, sqrt_ratio_to_f64, step, ulps_between};

/// A reproducible stream of floats over many binades, subnormals and halfway-prone values.
struct Floats(u64);

impl Floats {
    fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z ^ (z >> 31)
    }

    fn next(&mut self) -> f64 {
        let r = self.bits();
        let x = match r % 4 {
            // Any finite float.
            0 => f64::from_bits(r >> 1 | (r & 1) << 63),
            // Moderate magnitudes, where sums round.
            1 => (r >> 11) as f64 / (1u64 << 40) as f64 * if r & 1 == 1 { -1.0 } else { 1.0 },
            // Few significant bits: sums land on halfway points.
            2 => ((r >> 40) as i64 - (1 << 23)) as f64 * 2f64.powi((r % 64) as i32 - 32),
            // Subnormals.
            _ => f64::from_bits(r >> 12) * if r & 2 == 2 { -1.0 } else { 1.0 },
        };
        if x.is_finite() { x } else { 1.0 }
    }
}

fn exact(x: f64) -> BigInt {
    scaled_f64(x).unwrap()
}

fn scale() -> BigUint {
    BigUint::from(1u8) << 1074u32
}

/// Our rounding must agree with IEEE operations, which are correctly rounded.
#[test]
fn rational_rounding_agrees_with_ieee_operations() {
    let mut g = Floats(1);
    for _ in 0..20_000 {
        let (a, b) = (g.next(), g.next());
        let (ea, eb) = (exact(a), exact(b));
        let sum = a + b;
        if sum.is_finite() {
            // Bit for bit, but for the sign of an exact zero (IEEE gives -0.0 + -0.0 = -0.0).
            assert_eq!(ratio_to_f64(&(&ea + &eb), &scale()), sum, "{a:e} + {b:e}");
            if sum != 0.0 {
                assert_eq!(ratio_to_f64(&(&ea + &eb), &scale()).to_bits(), sum.to_bits(), "{a:e} + {b:e}");
            }
        }
        let product = a * b;
        if product.is_finite() && product != 0.0 {
            let p = ratio_to_f64(&(&ea * &eb), &(scale() * scale()));
            assert_eq!(p, product, "{a:e} * {b:e}");
        }
        let quotient = a / b;
        if b != 0.0 && quotient.is_finite() && quotient != 0.0 {
            let (num, den) = (&ea * if eb.sign() == num_bigint::Sign::Minus { -1 } else { 1 }, eb.magnitude().clone());
            assert_eq!(ratio_to_f64(&num, &den), quotient, "{a:e} / {b:e}");
        }
        let a = a.abs();
        assert_eq!(sqrt_ratio_to_f64(&exact(a), &scale()), a.sqrt(), "sqrt {a:e}");
    }
}

#[test]
fn halfway_points_round_to_even() {
    let one = 1u64 << 52; // 1.0 as 2^52 / 2^52
    let r = |n: u64, d_log: u32| ratio_to_f64(&BigInt::from(n), &(BigUint::from(1u8) << d_log));
    // 1 + 2^-53 is halfway between 1 and 1 + 2^-52: to even, 1.
    assert_eq!(r(2 * one + 1, 53), 1.0);
    // 1 + 3 * 2^-53 is halfway between 1 + 2^-52 and 1 + 2^-51: to even, 1 + 2^-51.
    assert_eq!(r(2 * one + 3, 53), 1.0 + 2f64.powi(-51));
    // Just above halfway rounds up.
    let above = ratio_to_f64(&((BigInt::from(2 * one + 1) << 10u32) + 1), &(BigUint::from(1u8) << 63u32));
    assert_eq!(above, 1.0 + 2f64.powi(-52));
    // 1/3 and 2/3, and a value that overflows.
    assert_eq!(ratio_to_f64(&BigInt::from(1), &BigUint::from(3u8)), 1.0 / 3.0);
    assert_eq!(ratio_to_f64(&BigInt::from(-2), &BigUint::from(3u8)), -2.0 / 3.0);
    assert_eq!(ratio_to_f64(&(BigInt::from(1) << 1024u32), &BigUint::from(1u8)), f64::INFINITY);
    // f64::MAX + half an ulp is a tie with 2^1024: to even, infinity; just below it, MAX.
    let max = exact(f64::MAX);
    let half_ulp = BigInt::from(1) << (970u32 + 1074);
    assert_eq!(ratio_to_f64(&(&max + &half_ulp), &scale()), f64::INFINITY);
    assert_eq!(ratio_to_f64(&(&max + &half_ulp - 1), &scale()), f64::MAX);
    // Subnormals: half of the smallest rounds to 0 (even), a bit more to the smallest.
    assert_eq!(ratio_to_f64(&BigInt::from(1), &(BigUint::from(1u8) << 1075u32)), 0.0);
    assert_eq!(ratio_to_f64(&BigInt::from(3), &(BigUint::from(1u8) << 1076u32)), f64::from_bits(1));
    assert_eq!(ratio_to_f64(&BigInt::from(3), &(BigUint::from(1u8) << 1075u32)), f64::from_bits(2));
    assert_eq!(ratio_to_f64(&BigInt::from(1), &(BigUint::from(1u8) << 1080u32)), 0.0);
    // The largest subnormal plus half a step rounds to the smallest normal.
    let two = ratio_to_f64(&BigInt::from((1u64 << 53) - 1), &(BigUint::from(1u8) << 1075u32));
    assert_eq!(two, f64::MIN_POSITIVE);
    assert_eq!(sqrt_ratio_to_f64(&BigInt::from(2), &BigUint::from(1u8)), std::f64::consts::SQRT_2);
    assert_eq!(sqrt_ratio_to_f64(&BigInt::from(1), &BigUint::from(4u8)), 0.5);
}

fn moments(xs: &[f64]) -> Moments {
    let mut m = Moments::default();
    xs.iter().for_each(|x| m.add_f64(*x));
    m
}

#[test]
fn cent_amounts_sum_to_the_correctly_rounded_exact_sum() {
    // f64 addition is not exact here: 0.1 + 0.2 + 0.3 is 0.6000000000000001 left to right.
    assert_eq!(0.1 + 0.2 + 0.3, 0.6000000000000001);
    assert_eq!(moments(&[0.1, 0.2, 0.3]).sum(), 0.6);
    assert_eq!(moments(&[0.3, 0.2, 0.1]).sum(), 0.6);
    let tenths = [0.1; 10];
    assert_eq!(tenths.iter().sum::<f64>(), 0.9999999999999999);
    assert_eq!(moments(&tenths).sum(), 1.0);
    // Cancellation: 1e16 + 1.0 - 1e16 is 0.0 left to right, exactly 1.0.
    assert_eq!(moments(&[1e16, 1.0, -1e16]).sum(), 1.0);
    assert_eq!(moments(&[1e308, 1e308, -1e308]).sum(), 1e308);
    // Order never matters.
    let cents: Vec<f64> = (1..=999).map(|c| c as f64 / 100.0).collect();
    let mut reversed = cents.clone();
    reversed.reverse();
    assert_eq!(moments(&cents).sum(), moments(&reversed).sum());
    assert_eq!(moments(&cents).sum(), 4995.0);
    assert_eq!(moments(&[f64::INFINITY, 1.0]).sum(), f64::INFINITY);
    assert!(moments(&[f64::INFINITY, f64::NEG_INFINITY]).sum().is_nan());
}

#[test]
fn variance_regressions() {
    // Exactly representable values around 1e9: the variance is exactly 1/16.
    let m = moments(&[1e9 + 0.25, 1e9 + 0.5, 1e9 + 0.75]);
    assert_eq!(m.variance(), Some(0.0625));
    assert_eq!(m.stddev(), Some(0.25));
    assert_eq!(m.mean(), Some(1e9 + 0.5));
    // Pressures: the exact variance of the three binary values, rounded (computed with
    // Python's `fractions`), 0x1.e955e125f06f7p-9. The textbook one-pass formula in f64 gives
    // 0.0037326812744140625, the two-pass one 0.0037333333338843656.
    let m = moments(&[101325.37, 101325.41, 101325.29]);
    assert_eq!(m.variance(), Some(0.003733333333884366));
    assert_eq!(m.variance().map(f64::to_bits), Some(0x3f6e955e125f06f7));
    // Its root, correctly rounded from the exact variance (not the root of the rounded one,
    // 0.061101009270587064).
    assert_eq!(m.stddev(), Some(0.06110100927058706));
    assert_eq!(Moments::default().mean(), None);
    assert_eq!(moments(&[3.0]).variance(), None);
}

#[test]
fn integers_stay_exact_beyond_2_pow_53() {
    let mut m = Moments::default();
    for x in [i64::MAX, i64::MAX, 1] {
        m.add_i64(x);
    }
    // (2 * (2^63 - 1) + 1) / 3 = (2^64 - 1) / 3 = 6148914691236517205, rounded once.
    assert_eq!(m.mean(), Some(6148914691236517205u64 as f64));
    let mut m = Moments::default();
    m.add_i64((1 << 53) + 1);
    m.add_i64(0);
    // Exactly 2^52 + 0.5: a tie, to even 2^52.
    assert_eq!(m.mean(), Some(4503599627370496.0));
}

#[test]
fn ulps_count_steps_between_neighbours() {
    assert_eq!(ulps_between(1.0, 1.0), 0);
    assert_eq!(ulps_between(1.0, 1.0f64.next_up()), 1);
    assert_eq!(ulps_between(1.0, 1.0f64.next_down()), 1);
    assert_eq!(ulps_between(0.0, -0.0), 0);
    assert_eq!(ulps_between(f64::from_bits(1), -f64::from_bits(1)), 2);
    assert_eq!(ulps_between(f64::NAN, 1.0), u64::MAX);
    assert_eq!(step(1.0, -2), 1.0f64.next_down().next_down());
    assert_eq!(step(2.0, 1), 2.0f64.next_up());
}
