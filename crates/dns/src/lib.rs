//! danegate-dns
