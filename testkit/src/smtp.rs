//! In-process SMTP servers for tests.
