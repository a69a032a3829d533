//! Numbers for people: counts like `147.9M`, sizes like `295.7 MB`,
//! values like `0.0123457`, and plurals; sizes read back ([`parse_size`]);
//! names made safe for a table ([`escape`], [`width`]).
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

/// A value read from a tensor, with six significant digits: in fixed
/// notation from 0.0001 to 999999 (`0.0123457`, `-1.5`, `42`, `123457`)
/// and in scientific notation outside it (`1.5e-7`, `1.23457e6`,
/// `3.40282e38`), trailing zeros dropped. So it is at most 12 characters
/// (`-1.23457e-38`, `-0.000123457`).
pub fn value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if v == v.trunc() && v.abs() < 1e6 {
        // Whole numbers of six digits or fewer are exact; -0.0 prints as 0.
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

/// The units [`parse_size`] reads, and how many bytes each is.
const UNITS: [(&str, u64); 15] = [
    ("", 1),
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("PB", 1_000_000_000_000_000),
    ("EB", 1_000_000_000_000_000_000),
    ("KIB", 1 << 10),
    ("MIB", 1 << 20),
    ("GIB", 1 << 30),
    ("TIB", 1 << 40),
    ("PIB", 1 << 50),
    ("EIB", 1 << 60),
    // As `inspect --exact` prints sizes.
    ("BYTES", 1),
];

/// Reads a size like `5GB`, `500MB`, `1.5 GB`, `10KiB` or `1234` (bytes),
/// exactly (no rounding through floating point). kB (or KB), MB, GB, TB,
/// PB and EB are decimal, as [`bytes`] prints them and the Hugging Face
/// hub shows them; KiB, MiB, GiB, TiB, PiB and EiB are binary. Letters
/// are read without regard to case, and a `b` is always bytes (`5mb` and
/// `5Mb` are 5 MB, as transformers reads them). A fraction must come to
/// a whole number of bytes; the largest size is 2^64 - 1 bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit_upper = unit.trim().to_ascii_uppercase();
    let Some(&(_, factor)) = UNITS.iter().find(|(name, _)| *name == unit_upper) else {
        return Err(format!(
            "unknown unit {:?} in {text:?} (use B, kB, MB, GB, TB, PB, EB, KiB, MiB, GiB, \
             TiB, PiB or EiB)",
            unit.trim()
        ));
    };
    let not_a_size = || format!("{text:?} is not a size like 5GB or 1.5GB");
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(whole)
        || !digits_only(fraction)
        || (whole.is_empty() && fraction.is_empty())
        || (number.contains('.') && fraction.is_empty())
    {
        return Err(not_a_size());
    }
    let too_large = || format!("{text:?} is more than the largest size, {} bytes", u64::MAX);
    // Whole part: digits one by one, checked; past u64::MAX it is too large
    // whatever the unit (every factor is at least 1).
    let mut bytes: u128 = 0;
    for digit in whole.bytes() {
        bytes = bytes
            .checked_mul(10)
            .and_then(|b| b.checked_add(digit_value(digit)))
            .filter(|&b| b <= u128::from(u64::MAX))
            .ok_or_else(too_large)?;
    }
    bytes = bytes
        .checked_mul(u128::from(factor))
        .ok_or_else(too_large)?;
    // Fraction: trailing zeros say nothing; what is left must come to
    // whole bytes.
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        let not_whole = || format!("{text:?} is not a whole number of bytes");
        // 10^38 is the largest power of ten in a u128.
        if fraction.len() > 38 {
            return Err(format!("{text:?}: more than 38 digits after the point"));
        }
        let mut numerator: u128 = 0;
        let mut denominator: u128 = 1;
        for digit in fraction.bytes() {
            // At most 38 digits: neither overflows.
            numerator = numerator
                .saturating_mul(10)
                .saturating_add(digit_value(digit));
            denominator = denominator.saturating_mul(10);
        }
        // In lowest terms, the denominator must divide the unit.
        let g = gcd(numerator, denominator);
        let (numerator, denominator) = (numerator / g, denominator / g);
        let factor = u128::from(factor);
        if factor % denominator != 0 {
            return Err(not_whole());
        }
        let part = numerator
            .checked_mul(factor / denominator)
            .ok_or_else(too_large)?;
        bytes = bytes.checked_add(part).ok_or_else(too_large)?;
    }
    if bytes == 0 {
        return Err(format!("{text:?} is not a positive size"));
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

/// The value of an ASCII digit.
fn digit_value(digit: u8) -> u128 {
    char::from(digit).to_digit(10).map_or(0, u128::from)
}

/// The greatest common divisor of `a` and `b` (`b` if `a` is 0).
fn gcd(mut a: u128, mut b: u128) -> u128 {
    while a != 0 {
        (a, b) = (b % a, a);
    }
    b
}

/// `text` on one line and without terminal control: every control
/// character (newline, tab, carriage return, escape, DEL, ...) as its
/// Rust escape (`\n`, `\t`, `\u{1b}`), the rest as it is.
pub fn escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// How many terminal columns `text` (escaped, so with no control
/// character) takes, approximately: two for the wide characters of East
/// Asian scripts and for emoji, one for every other character. Combining
/// marks and zero-width characters count one, so a name holding them
/// pushes the columns after it by as many.
pub fn width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

/// The wide (two-column) ranges of Unicode's East Asian Width property,
/// in outline: Hangul, CJK, kana, fullwidth forms, and emoji.
fn is_wide(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD)
}

/// `text` followed by spaces to `columns` terminal columns ([`width`]).
pub fn pad_right(text: &str, columns: usize) -> String {
    let pad = columns.saturating_sub(width(text));
    format!("{text}{:pad$}", "")
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
        assert_eq!(value(999999.0), "999999");
        assert_eq!(value(-999999.0), "-999999");
        // Whole numbers from 1e6 on are in scientific notation, as the
        // doc says: at most 12 characters.
        assert_eq!(value(1e6), "1e6");
        assert_eq!(value(123456789012345.0), "1.23457e14");
        assert_eq!(value(-1.2345678e-38), "-1.23457e-38");
        assert_eq!(value(-0.00012345678), "-0.000123457");
        assert_eq!(value(1234567.5), "1.23457e6");
        assert_eq!(value(1.5e-7), "1.5e-7");
        assert_eq!(value(f64::from(f32::MAX)), "3.40282e38");
        assert_eq!(value(1e20), "1e20");
        assert_eq!(value(f64::INFINITY), "inf");
    }

    #[test]
    fn sizes_are_read_exactly_in_every_unit_printed() {
        assert_eq!(parse_size("5GB"), Ok(5_000_000_000));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("1.5 kB"), Ok(1500));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("123 bytes"), Ok(123));
        assert_eq!(parse_size("7b"), Ok(7));
        assert_eq!(parse_size("2PB"), Ok(2_000_000_000_000_000));
        assert_eq!(parse_size("3EB"), Ok(3_000_000_000_000_000_000));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("1PiB"), Ok(1 << 50));
        assert_eq!(parse_size("15EiB"), Ok(15 << 60));
        // Exact where f64 is not: 2^53 + 1 bytes, and the largest size.
        assert_eq!(parse_size("9007199254740993"), Ok((1 << 53) + 1));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_size("18.446744073709551615EB"), Ok(u64::MAX));
        assert_eq!(parse_size("0.000000000000000001EB"), Ok(1));
        assert_eq!(
            parse_size("1.25000000000000000000000000000000000000000MB"),
            Ok(1_250_000)
        );
        // Letters in any case; a b is bytes.
        assert_eq!(parse_size("5gb"), Ok(5_000_000_000));
        assert_eq!(parse_size("5Mb"), Ok(5_000_000));
        assert_eq!(parse_size("5mib"), Ok(5 << 20));
        // Every size `bytes` prints reads back as what it says.
        for n in [1, 999, 3104, 295_700_000, 5_000_000_000, u64::MAX] {
            let printed = bytes(n);
            let read = parse_size(&printed).unwrap();
            assert!(read.abs_diff(n) * 20 <= n, "{printed}: {read} for {n}");
        }
        let error = |text: &str| parse_size(text).unwrap_err();
        assert!(error("18446744073709551616").contains("18446744073709551615 bytes"));
        assert!(error("18.5EB").contains("largest size"));
        assert!(error("16EiB").contains("largest size"));
        assert!(error("99999999999999999999999999999999999999999999").contains("largest size"));
        assert!(error("0").contains("not a positive size"));
        assert!(error("0.0GB").contains("not a positive size"));
        assert!(error("1.5B").contains("not a whole number of bytes"));
        assert!(error("0.0001kB").contains("not a whole number of bytes"));
        assert!(error("1.0000000001KiB").contains("not a whole number of bytes"));
        assert!(error("5XB").contains("TiB, PiB or EiB"));
        assert!(error("5K").contains("unknown unit"));
        assert!(error("GB").contains("not a size"));
        assert!(error("1.2.3GB").contains("not a size"));
        assert!(error("5.GB").contains("not a size"));
        assert!(error("-5GB").contains("unknown unit"));
    }

    #[test]
    fn escaped_text_has_no_control_characters_and_wide_ones_count_two() {
        assert_eq!(
            escape("new\nline\ttab\rcr\u{1b}[31m"),
            "new\\nline\\ttab\\rcr\\u{1b}[31m"
        );
        assert_eq!(escape("ctrl\u{1}\u{1f}\u{7f}"), "ctrl\\u{1}\\u{1f}\\u{7f}");
        assert_eq!(escape("café.über/漢字"), "café.über/漢字");
        assert_eq!(width("café"), 4);
        assert_eq!(width("漢字"), 4);
        assert_eq!(width("emoji.😀"), 8);
        assert_eq!(pad_right("漢字", 6), "漢字  ");
        assert_eq!(pad_right("abcdef", 4), "abcdef");
    }
}
