//! danegate-smtpd (being written).
