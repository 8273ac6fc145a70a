//! CSV cells that are safe to open in a spreadsheet.
//!
//! A text cell starting with `=`, `+`, `-` or `@` would be run as a formula by Excel, Calc or
//! Sheets (CSV injection), and one starting with a tab, a carriage return or `|` can become
//! one once a spreadsheet trims the blank or reads `|` as a DDE call; all such cells get a
//! leading `'` (OWASP's list). Cells holding a comma, a quote or
//! a line break are quoted, quotes doubled (RFC 4180).

use std::fmt::Write;

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '|'];

/// One text cell, made inert and quoted as needed.
pub fn text(value: &str) -> String {
    let guarded = if value.starts_with(FORMULA_STARTS) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// Micro-units as the exact decimal (`99.99`, `0.000001`), never in exponent form.
pub fn micros(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    let (whole, fraction) = (magnitude / 1_000_000, magnitude % 1_000_000);
    let mut out = format!("{sign}{whole}");
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out
}

/// Cells joined into one line, ending with CRLF as RFC 4180 has it.
pub fn line(cells: &[String]) -> String {
    let mut out = cells.join(",");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_made_inert() {
        for dangerous in ["=SUM(A1)", "+1", "-2", "@cmd", "\t=1", "\r=1", "|cmd"] {
            let cell = text(dangerous);
            assert!(
                cell.trim_start_matches('"').starts_with('\''),
                "{dangerous}"
            );
        }
        assert_eq!(text("prod-1"), "prod-1");
    }

    #[test]
    fn separators_and_quotes_are_quoted() {
        assert_eq!(text("a,b"), "\"a,b\"");
        assert_eq!(text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text("=1,2"), "\"'=1,2\"");
        assert_eq!(line(&["a".into(), String::new()]), "a,\r\n");
    }

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(micros(99_990_000), "99.99");
        assert_eq!(micros(1), "0.000001");
        assert_eq!(micros(5_000_000), "5");
        assert_eq!(micros(-1_500_000), "-1.5");
    }
}
