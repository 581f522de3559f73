//! danegate-queue (being written).
