//! Text in, typed AST out: the grammar binding and the syntax tree.

pub mod ast;
mod expr;
mod parser;

pub(crate) use parser::comment_start;
pub use parser::parse;

/// Writes milliseconds in the largest unit that divides them exactly: `300000` gives `5m`.
pub fn format_millis(ms: u64) -> String {
    for (unit, suffix) in [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
        if ms != 0 && ms.is_multiple_of(unit) {
            return format!("{}{suffix}", ms / unit);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    #[test]
    fn millis_use_the_largest_exact_unit() {
        assert_eq!(super::format_millis(300_000), "5m");
        assert_eq!(super::format_millis(90_000), "90s");
        assert_eq!(super::format_millis(0), "0ms");
        assert_eq!(super::format_millis(86_400_000 * 30), "30d");
    }
}
