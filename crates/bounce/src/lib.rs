//! danegate-bounce (being written).
