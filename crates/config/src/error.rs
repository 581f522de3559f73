//! Errors: every problem of a file, each with its key path, the value as written and why.

use std::fmt;

/// One problem found in a configuration file (Configuration: "errors that name
/// the key, the bad value and the allowed range").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path, e.g. `destination[2].max_concurrent_connections` (array indexes count
    /// from 0 in file order). Empty for TOML syntax errors and unreadable files.
    pub key: String,
    /// The offending value as written in the file (shortened when long); empty when the
    /// value is missing.
    pub value: String,
    /// What is wrong, e.g. `must be between 1 and 1000`.
    pub message: String,
    /// 1-based line of the value (or key) in the file, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl fmt::Display for ConfigError {
    /// `key = value: message (line N)`; without ` = value` when there is no value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            match (self.line, self.column) {
                (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
                (Some(l), None) => write!(f, "line {l}: {}", self.message),
                _ => f.write_str(&self.message),
            }
        } else {
            f.write_str(&self.key)?;
            if !self.value.is_empty() {
                write!(f, " = {}", self.value)?;
            }
            write!(f, ": {}", self.message)?;
            if let Some(l) = self.line {
                write!(f, " (line {l})")?;
            }
            Ok(())
        }
    }
}

/// Every error found in one configuration source (never just the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file name (or other source name) printed before each error.
    pub source_name: String,
    /// The errors, in file order.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Number of errors.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when there is none (never the case for a returned `Err`).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// The error for an exact key path, if any.
    pub fn find(&self, key: &str) -> Option<&ConfigError> {
        self.errors.iter().find(|e| e.key == key)
    }
}

impl fmt::Display for ConfigErrors {
    /// One line per error: `FILE: key = value: message (line N)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {e}", self.source_name)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
