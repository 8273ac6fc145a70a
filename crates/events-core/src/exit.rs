//! How a binary ends on an error: one line on stderr (`error: VARIABLE: what failed: why`), then
//! exit status 1. Operators read that line first, so it names what to fix and carries the causes
//! once each.

/// The error and its causes on one line, each cause once: error types that already print their
/// source in their own message (`SQLite: {0}`) would otherwise repeat it.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// Prints `error: …` on one line and exits 1, or returns on `Ok`.
pub fn or_exit<T>(result: anyhow::Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("SQLite: {0}")]
    struct Repeats(#[from] std::io::Error);

    #[test]
    fn each_cause_is_said_once_on_one_line() {
        let io = std::io::Error::other("disk full");
        let error = anyhow::Error::new(Repeats::from(io)).context("DATABASE_URL");
        assert_eq!(one_line(&error), "DATABASE_URL: SQLite: disk full");
        let plain =
            anyhow::Error::new(std::io::Error::other("refused\nagain")).context("REDIS_URL");
        assert_eq!(one_line(&plain), "REDIS_URL: refused again");
    }
}
