//! danegate-admin (being written).
