//! The SMTP server session with arbitrary client bytes: the input is everything the
//! client sends (commands, pipelining, DATA content and its framing, STARTTLS followed
//! by whatever comes next as the TLS handshake), over real loopback TCP to a running
//! listener; then the client closes its side and reads the replies to the end.
#![no_main]

use std::time::Duration;

use danegate_fuzz::{runtime, smtpd};
use libfuzzer_sys::fuzz_target;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fuzz_target!(|data: &[u8]| {
    let addr = smtpd();
    runtime().block_on(async {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            return;
        };
        let (mut rd, mut wr) = s.split();
        let write = async {
            let _ = wr.write_all(data).await;
            let _ = wr.shutdown().await;
        };
        let read = async {
            let mut buf = [0u8; 8192];
            loop {
                match tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => break,
                }
            }
        };
        tokio::join!(write, read);
    });
});
