//! danegate-web (being written).
