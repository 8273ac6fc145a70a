//! Exact money and the rounding every rate and amount goes through.
//!
//! Amounts arrive as JSON numbers (binary floats). Summing floats drifts, and rounding a float
//! half away from zero rounds the binary value rather than the decimal one a person reads
//! (1.005 is stored as 1.00499…). So an amount is turned once, at the edge, into integer
//! micro-units from its shortest decimal spelling, and every sum, average and rate afterwards
//! is integer arithmetic rounded exactly.

/// Micro-units per currency unit: amounts keep six decimals.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// Converts an amount to integer micro-units, reading the number as the decimal a person
/// would write (`99.99`, not `99.98999…`) and rounding half away from zero past six
/// decimals. Returns `None` for values that are not finite or do not fit.
pub fn amount_to_micros(amount: f64) -> Option<i64> {
    if !amount.is_finite() || amount.abs() > 9.0e12 {
        return None;
    }
    // `Display` for f64 gives the shortest decimal that reads back to the same float, without
    // an exponent.
    let text = format!("{}", amount.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let whole: i64 = whole.parse().ok()?;
    let mut micros = whole.checked_mul(MICROS_PER_UNIT)?;
    let digits: Vec<i64> = fraction.bytes().map(|b| i64::from(b - b'0')).collect();
    let mut scale = MICROS_PER_UNIT / 10;
    for digit in digits.iter().take(6) {
        micros += digit * scale;
        scale /= 10;
    }
    if digits.get(6).is_some_and(|&d| d >= 5) {
        micros += 1;
    }
    Some(if amount < 0.0 { -micros } else { micros })
}

/// Converts micro-units back to a float, for storing next to the exact value.
pub fn micros_to_f64(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_UNIT as f64
}

/// `numerator / denominator`, rounded to two decimals half away from zero, exactly.
///
/// This is the one rounding of the product: `round2(201, 200)` (an average of 1.00 and 1.01)
/// is `1.01`, where `(1.005_f64 * 100.0).round() / 100.0` gives `1.0`. A zero denominator
/// gives `0.0`, which is what every metric wants for "nothing to divide".
pub fn round2(numerator: i128, denominator: i128) -> f64 {
    if denominator == 0 {
        return 0.0;
    }
    let negative = (numerator < 0) != (denominator < 0);
    let (n, d) = (numerator.unsigned_abs(), denominator.unsigned_abs());
    // hundredths = n * 100 / d, rounded half up on the magnitude.
    let hundredths = (n * 200 + d) / (2 * d);
    let value = hundredths as f64 / 100.0;
    if negative { -value } else { value }
}

/// Micro-units as an amount with two decimals, rounded half away from zero.
pub fn micros_round2(micros: i128) -> f64 {
    round2(micros, i128::from(MICROS_PER_UNIT))
}

/// A percentage `part / whole × 100` with two decimals; `0` when `whole` is zero.
pub fn percent(part: u64, whole: u64) -> f64 {
    round2(i128::from(part) * 100, i128::from(whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_the_decimal_written() {
        assert_eq!(amount_to_micros(99.99), Some(99_990_000));
        assert_eq!(amount_to_micros(1.005), Some(1_005_000));
        assert_eq!(amount_to_micros(0.0), Some(0));
        assert_eq!(amount_to_micros(1e9), Some(1_000_000_000_000_000));
        assert_eq!(amount_to_micros(0.1 + 0.2), Some(300_000));
    }

    #[test]
    fn amounts_past_six_decimals_round_half_away_from_zero() {
        assert_eq!(amount_to_micros(0.0000005), Some(1));
        assert_eq!(amount_to_micros(0.0000004), Some(0));
        assert_eq!(amount_to_micros(-0.0000005), Some(-1));
    }

    #[test]
    fn non_finite_amounts_are_refused() {
        assert_eq!(amount_to_micros(f64::NAN), None);
        assert_eq!(amount_to_micros(f64::INFINITY), None);
        assert_eq!(amount_to_micros(1e300), None);
    }

    #[test]
    fn rounding_is_half_away_from_zero_on_the_decimal_value() {
        // The average of 1.00 and 1.01 is 1.005, which a person rounds to 1.01.
        assert_eq!(round2(201, 200), 1.01);
        assert_eq!(round2(-201, 200), -1.01);
        assert_eq!(round2(2, 3), 0.67);
        assert_eq!(round2(1, 3), 0.33);
        assert_eq!(round2(5, 0), 0.0);
        assert_eq!(micros_round2(149_980_000 / 2), 74.99);
    }

    #[test]
    fn percentages_of_nothing_are_zero() {
        assert_eq!(percent(3, 0), 0.0);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(12, 150), 8.0);
        assert_eq!(percent(5, 2), 250.0);
    }
}
