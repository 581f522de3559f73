//! danegate-dane
