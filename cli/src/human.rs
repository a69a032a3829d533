//! Numbers for people: counts like `147.9M`, sizes like `295.7 MB`,
//! values like `0.0123457`, and plurals.
//!
//! Sizes are decimal (1 kB = 1000 bytes), the units `--max-shard-size`
//! reads and the Hugging Face hub shows, so a size printed by one command
//! can be passed to another as it is. `--json` (and `inspect --exact`)
//! give the exact numbers.

/// `count` followed by `noun`, with an `s` unless there is one:
/// `1 tensor`, `2 tensors`, `0 tensors`.
pub fn plural(count: impl Into<u128>, noun: &str) -> String {
    let count = count.into();
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `value` scaled by powers of 1000 to one decimal place with the first
/// unit it stays under 1000 in (after rounding); under 1000, exact.
fn scaled(value: u128, units: &[&str], separator: &str) -> String {
    if value < 1000 {
        return format!("{value}{separator}{}", units[0]);
    }
    let mut scaled = value as f64;
    for unit in &units[1..] {
        scaled /= 1000.0;
        // 999.96 rounds to 1000.0: the next unit says it better.
        if (scaled * 10.0).round() < 10_000.0 {
            return format!("{scaled:.1}{separator}{unit}");
        }
    }
    // Past the largest unit: more digits, still that unit.
    let last = units.last().copied().unwrap_or_default();
    format!("{scaled:.1}{separator}{last}")
}

/// A count of things (parameters): `512`, `12.3K`, `147.9M`, `7.2B`.
pub fn count(value: u128) -> String {
    scaled(value, &["", "K", "M", "B", "T"], "")
}

/// A size in bytes, decimal: `512 B`, `3.1 kB`, `295.7 MB`, `5.0 GB`.
pub fn bytes(value: u64) -> String {
    scaled(
        u128::from(value),
        &["B", "kB", "MB", "GB", "TB", "PB", "EB"],
        " ",
    )
}

/// A value read from a tensor: integers as integers (`42`, `-7`), other
/// numbers with six significant digits, in fixed notation from 0.0001 to
/// 999999 (`0.0123457`, `-1.5`, `2.5`) and in scientific notation outside
/// it (`1.5e-7`, `3.40282e38`), trailing zeros dropped.
pub fn value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        // -0.0 prints as 0.
        return format!("{}", v as i64);
    }
    let scientific = format!("{v:.5e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        let decimals = usize::try_from(5 - exponent).unwrap_or(0);
        trim(&format!("{v:.decimals$}")).to_owned()
    } else {
        format!("{}e{exponent}", trim(mantissa))
    }
}

/// `1.50000` as `1.5`, `2.000` as `2`.
fn trim(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes_round_to_one_decimal_in_the_right_unit() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1.0K");
        assert_eq!(count(147_883_008), "147.9M");
        assert_eq!(count(999_960), "1.0M");
        assert_eq!(count(7_241_732_096), "7.2B");
        assert_eq!(bytes(1), "1 B");
        assert_eq!(bytes(3104), "3.1 kB");
        assert_eq!(bytes(295_700_000), "295.7 MB");
        assert_eq!(bytes(5_000_000_000), "5.0 GB");
        assert_eq!(bytes(u64::MAX), "18.4 EB");
        assert_eq!(plural(1u8, "tensor"), "1 tensor");
        assert_eq!(plural(0u8, "tensor"), "0 tensors");
        assert_eq!(plural(2u8, "shard"), "2 shards");
    }

    #[test]
    fn values_are_integers_or_six_significant_digits() {
        assert_eq!(value(42.0), "42");
        assert_eq!(value(-7.0), "-7");
        assert_eq!(value(-0.0), "0");
        assert_eq!(value(-1.5), "-1.5");
        assert_eq!(value(0.012345678), "0.0123457");
        assert_eq!(value(123456.7), "123457");
        assert_eq!(value(1234567.5), "1.23457e6");
        assert_eq!(value(1.5e-7), "1.5e-7");
        assert_eq!(value(f64::from(f32::MAX)), "3.40282e38");
        assert_eq!(value(1e20), "1e20");
        assert_eq!(value(f64::INFINITY), "inf");
    }
}
