//! danegate-logs (being written).
