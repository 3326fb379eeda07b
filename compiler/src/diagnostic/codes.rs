//! The one registry of diagnostic codes: code, severity, title and the page `featc explain` prints.

use super::Severity;

/// A registered diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    /// The page in `docs/diagnostics/`, Markdown.
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($name:ident = $id:literal, $sev:ident, $title:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Code = Code {
                id: $id,
                severity: Severity::$sev,
                title: $title,
                explanation: include_str!(concat!("../../../docs/diagnostics/", $id, ".md")),
            };
        )*
        /// Every code, in order.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    // Syntax and structure (E01xx)
    SYNTAX_ERROR = "E0100", Error, "syntax error";
    INVALID_LITERAL = "E0101", Error, "invalid literal";
    DURATION_AS_VALUE = "E0102", Error, "a duration is not a value";
    MISSING_PROPERTY = "E0110", Error, "missing required property";
    DUPLICATE_PROPERTY = "E0111", Error, "property given twice";
    UNKNOWN_FORMAT = "E0112", Error, "unknown history file format";
    PIN_WITHOUT_DELTA = "E0113", Error, "version pin on files that are not a Delta table";
    // Names (E02xx)
    UNKNOWN_SOURCE = "E0200", Error, "unknown source";
    UNKNOWN_ENTITY = "E0201", Error, "unknown entity";
    UNKNOWN_FIELD = "E0202", Error, "unknown field";
    UNKNOWN_FEATURE = "E0203", Error, "unknown feature";
    UNKNOWN_FUNCTION = "E0204", Error, "unknown function or aggregate";
    UNKNOWN_TYPE = "E0205", Error, "unknown type";
    UNKNOWN_WINDOW = "E0206", Error, "unknown window kind";
    UNKNOWN_GROUP = "E0207", Error, "unknown feature group";
    DUPLICATE_NAME = "E0208", Error, "name defined twice";
    FIELD_IN_DERIVED = "E0209", Error, "event field used in a derived feature";
    FEATURE_IN_AGGREGATE = "E0210", Error, "feature used where event fields are expected";
    // Types and aggregates (E03xx)
    TYPE_MISMATCH = "E0300", Error, "mismatched types";
    BAD_AGGREGATE_ARG = "E0301", Error, "aggregate argument of the wrong type";
    FILTER_NOT_BOOL = "E0302", Error, "filter is not a bool";
    WRONG_ARG_COUNT = "E0303", Error, "wrong number of arguments";
    ARG_NOT_CONSTANT = "E0304", Error, "argument must be a constant";
    ARG_OUT_OF_RANGE = "E0305", Error, "argument out of range";
    INVALID_CAST = "E0306", Error, "invalid cast";
    MISPLACED_AGGREGATE = "E0307", Error, "aggregate outside an aggregate feature";
    MISSING_WINDOW = "E0308", Error, "aggregate feature without a window";
    WINDOW_ON_DERIVED = "E0309", Error, "window or filter on a non-aggregate feature";
    // Windows (E04xx)
    NON_POSITIVE_DURATION = "E0400", Error, "window duration is not positive";
    HOP_NOT_DIVISOR = "E0401", Error, "hop does not divide the window size";
    HOP_TOO_LARGE = "E0402", Error, "hop larger than the window";
    BAD_WINDOW_ARGS = "E0403", Error, "wrong window arguments";
    // Keys and event time (E05xx)
    KEY_NOT_IN_SOURCE = "E0500", Error, "entity key missing from the source";
    KEY_NOT_HASHABLE = "E0501", Error, "key type cannot be hashed";
    KEY_TYPE_MISMATCH = "E0502", Error, "key type differs between entity and source";
    EVENT_TIME_NOT_TIMESTAMP = "E0503", Error, "event-time field is not a timestamp";
    // Derived features (E06xx)
    DERIVED_CYCLE = "E0600", Error, "cycle among derived features";
    // Lambda and targets (E07xx)
    ILLEGAL_MERGE = "E0700", Error, "merge rule not legal for the aggregate";
    SPEED_ON_LIFETIME = "E0701", Error, "`speed` cannot serve a lifetime window";
    CONFLICTING_MERGE = "E0702", Error, "feature given two merge rules";
    MERGE_ON_DERIVED = "E0703", Error, "merge rule on a derived feature";
    BAD_CADENCE = "E0704", Error, "batch cadence is not positive";
    TARGET_UNSUPPORTED = "E0705", Error, "spec cannot compile for a target";
    // Data bindings (E08xx): found when the runtime opens data, never by `featc check`
    DATA_SCHEMA_MISMATCH = "E0800", Error, "the data no longer fits the source's schema";
    // Warnings (W0xxx)
    UNUSED_SOURCE = "W0001", Warning, "unused source";
    UNUSED_ENTITY = "W0002", Warning, "unused entity";
    SINGLE_HOP = "W0003", Warning, "sliding window with a single hop";
    PATTERN_MATCHES_NOTHING = "W0004", Warning, "merge pattern matches no feature";
    STALE_BATCH_ONLY = "W0005", Warning, "feature served from the batch view alone";
    EMPTY_GROUP = "W0006", Warning, "feature group without features";
    NULL_COMPARISON = "W0007", Warning, "comparison with null is never true";
    WINDOW_STATE_TOO_LARGE = "W0008", Warning, "window keeps too much state per key";
}

impl Code {
    /// Whether the runtime reports it, when it opens data (E08xx), rather than the checker: its
    /// page's example is a valid spec, and the error comes from the data bound to it.
    pub fn is_runtime(&self) -> bool {
        self.id.starts_with("E08")
    }
}

/// Looks a code up by its id, case-insensitively (`e0301` finds `E0301`).
pub fn lookup(id: &str) -> Option<Code> {
    ALL.iter().copied().find(|c| c.id.eq_ignore_ascii_case(id.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sorted_and_match_their_severity() {
        for pair in ALL.windows(2) {
            assert!(
                pair[0].id < pair[1].id || pair[0].id.starts_with('E') && pair[1].id.starts_with('W'),
                "{} then {}",
                pair[0].id,
                pair[1].id
            );
        }
        for code in ALL {
            let expected = if code.id.starts_with('E') { Severity::Error } else { Severity::Warning };
            assert_eq!(code.severity, expected, "{}", code.id);
            assert!(
                code.explanation.starts_with(&format!("# {}", code.id)),
                "{} page must open with its code",
                code.id
            );
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup("e0301").map(|c| c.id), Some("E0301"));
        assert_eq!(lookup("E9999"), None);
    }
}
