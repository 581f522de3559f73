//! Certificate factory for tests.
