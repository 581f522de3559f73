//! danegate-tls
