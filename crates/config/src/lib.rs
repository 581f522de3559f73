//! danegate-config (being written).
