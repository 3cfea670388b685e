//! Errors of reading JSON: the text is not JSON at all, a tree would be too deep, or the value
//! does not have the shape a typed reader wants.

/// Why a JSON text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON as Node's `JSON.parse` accepts it.
    #[error("not JSON: {0}")]
    Syntax(serde_json::Error),
    /// Not JSON as Node's `JSON.parse` accepts it (found by the envelope scanner).
    #[error("not JSON: {0}")]
    Scan(#[from] super::scan::ScanError),
    /// Valid JSON, but nested deeper than the tree limit.
    #[error("JSON nested {depth} deep exceeds the limit of {limit} levels for a decoded value")]
    TooDeep {
        /// Nesting of the value.
        depth: usize,
        /// The limit ([`super::MAX_TREE_DEPTH`]).
        limit: usize,
    },
    /// Valid JSON of the wrong shape for the type asked for.
    #[error("{0}")]
    Shape(serde_json::Error),
    /// A raw value was expected to be of one kind (an array, an object) and is not.
    #[error("expected {expected}, got {got}")]
    Kind {
        /// What was expected.
        expected: &'static str,
        /// The start of what came.
        got: String,
    },
}
