//! The SMTP client against a server that sends arbitrary bytes: the input is
//! everything the "server" writes (greeting, EHLO reply, MAIL/RCPT/DATA replies ...),
//! then it closes. The client connects, says EHLO and sends one message, over real
//! loopback TCP, so its reply reader, capability parser and state machine see exactly
//! what they would from a remote MTA.
#![no_main]

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use danegate_fuzz::runtime;
use danegate_smtp::{SmtpClient, Timeouts};
use libfuzzer_sys::fuzz_target;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::mpsc,
};

struct Fake {
    addr: SocketAddr,
    next: mpsc::UnboundedSender<Vec<u8>>,
}

fn fake() -> &'static Fake {
    static F: OnceLock<Fake> = OnceLock::new();
    F.get_or_init(|| {
        runtime().block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = l.local_addr().expect("address");
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let script = rx.recv().await.unwrap_or_default();
                    tokio::spawn(async move {
                        let _ = s.write_all(&script).await;
                        let _ = s.shutdown().await;
                        let mut sink = [0u8; 4096];
                        while let Ok(n) = s.read(&mut sink).await {
                            if n == 0 {
                                break;
                            }
                        }
                    });
                }
            });
            Fake { addr, next: tx }
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fake();
    if f.next.send(data.to_vec()).is_err() {
        return;
    }
    runtime().block_on(async {
        let t = Timeouts::uniform(Duration::from_secs(5));
        let Ok(mut c) = SmtpClient::connect(f.addr, None, t).await else {
            return;
        };
        if c.ehlo("gw.fuzz.test").await.is_err() {
            return;
        }
        let _ = c
            .send(
                "from@fuzz.test",
                &["to@fuzz.test", "two@fuzz.test"],
                b"Subject: fuzz\r\n\r\n.hello\r\n",
            )
            .await;
    });
});
