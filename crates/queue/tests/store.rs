//! The queue's state machine, leases, scheduling, statistics and restart recovery, for
//! both stores (SQLite and PostgreSQL: `NAME::sqlite`, `NAME::postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use danegate_queue::{NewMessage, NewRecipient, QueueError, RcptState, Store};

#[macro_use]
mod common;
use common::Fixture;

both!(
    enqueue_stores_envelope_and_body,
    enqueue_without_recipients_is_refused,
    state_machine_delivered_deferred_bounced,
    leases,
    due_order_and_limit,
    deliver_now_per_domain_and_all,
    stats_list_remove_delay_warned,
    restart_recovers_leases_and_keeps_mids_increasing,
    concurrent_enqueues_are_durable_and_group_committed,
    store_is_usable_as_trait_object,
    each_recipient_names_the_node_holding_it,
);

fn rcpt(address: &str) -> NewRecipient {
    let domain = address
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    NewRecipient {
        address: address.into(),
        domain,
        dsn_notify: None,
        dsn_orcpt: None,
    }
}

fn msg(sender: &str, rcpts: &[&str]) -> NewMessage {
    NewMessage {
        sender: sender.into(),
        recipients: rcpts.iter().map(|r| rcpt(r)).collect(),
        data: format!("Subject: test from {sender}\r\n\r\nbody\r\n").into_bytes(),
        received_from: "192.0.2.10".into(),
        icid: 7,
        policy: "RELAY".into(),
        dsn_ret: Some("HDRS".into()),
        dsn_envid: Some("env-1".into()),
    }
}

fn later(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

async fn enqueue_stores_envelope_and_body(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let mut m = msg(
        "alice@example.org",
        &["bob@Example.COM", "carol@example.net"],
    );
    m.recipients[1].dsn_notify = Some("FAILURE".into());
    m.recipients[1].dsn_orcpt = Some("rfc822;carol@example.net".into());
    let data = m.data.clone();
    let before = SystemTime::now() - Duration::from_millis(1);
    let mid = store.enqueue(m).await.unwrap();
    assert_eq!(mid, 1, "the first MID is 1");

    let env = store.envelope(mid).await.unwrap().unwrap();
    assert_eq!(env.mid, mid);
    assert_eq!(env.sender, "alice@example.org");
    assert_eq!(env.size, data.len() as u64);
    assert_eq!(env.received_from, "192.0.2.10");
    assert_eq!(env.icid, 7);
    assert_eq!(env.policy, "RELAY");
    assert_eq!(env.dsn_ret.as_deref(), Some("HDRS"));
    assert_eq!(env.dsn_envid.as_deref(), Some("env-1"));
    assert!(!env.delay_warned);
    assert!(env.received_at >= before && env.received_at <= SystemTime::now());
    assert_eq!(env.recipients.len(), 2);
    let r0 = &env.recipients[0];
    assert_eq!((r0.mid, r0.rid), (mid, 0));
    assert_eq!(r0.address, "bob@Example.COM");
    assert_eq!(r0.domain, "example.com");
    assert_eq!(r0.state, RcptState::Queued);
    assert!(!r0.in_flight);
    assert_eq!(r0.attempts, 0);
    assert_eq!(r0.first_attempt, None);
    let r1 = &env.recipients[1];
    assert_eq!(r1.rid, 1);
    assert_eq!(r1.dsn_notify.as_deref(), Some("FAILURE"));
    assert_eq!(r1.dsn_orcpt.as_deref(), Some("rfc822;carol@example.net"));

    assert_eq!(store.data(mid).await.unwrap().unwrap(), data);
    assert_eq!(store.envelope(99).await.unwrap(), None);
    assert_eq!(store.data(99).await.unwrap(), None);
    assert_eq!(store.envelope(u64::MAX).await.unwrap(), None);

    let mid2 = store.enqueue(msg("", &["x@example.com"])).await.unwrap();
    assert!(mid2 > mid);
    assert_eq!(
        store.envelope(mid2).await.unwrap().unwrap().sender,
        "",
        "null sender"
    );

    // A batch read: the same envelopes and bodies, in order, None for an unknown MID.
    let loaded = store.load(&[mid2, 99, mid]).await;
    assert_eq!(loaded.len(), 3);
    let (env2, data2) = loaded[0].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(env2, &store.envelope(mid2).await.unwrap().unwrap());
    assert_eq!(data2, &store.data(mid2).await.unwrap().unwrap());
    assert!(loaded[1].as_ref().unwrap().is_none());
    let (env1, data1) = loaded[2].as_ref().unwrap().as_ref().unwrap();
    assert_eq!((env1, data1), (&env, &data));
    assert!(store.load(&[]).await.is_empty());
}

async fn enqueue_without_recipients_is_refused(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let err = store.enqueue(msg("a@example.org", &[])).await.unwrap_err();
    assert!(matches!(err, QueueError::Invalid(_)), "{err}");
    // A refused operation does not disturb the others.
    let mid = store
        .enqueue(msg("a@example.org", &["b@example.com"]))
        .await
        .unwrap();
    assert!(store.envelope(mid).await.unwrap().is_some());
}

async fn state_machine_delivered_deferred_bounced(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let mid = store
        .enqueue(msg(
            "a@example.org",
            &["r0@example.com", "r1@example.com", "r2@example.net"],
        ))
        .await
        .unwrap();

    let due = store.due(SystemTime::now(), 100).await.unwrap();
    assert_eq!(due.len(), 3);
    assert!(
        due.iter()
            .all(|r| r.in_flight && r.state == RcptState::Queued)
    );
    assert_eq!(due.iter().map(|r| r.rid).collect::<Vec<_>>(), vec![0, 1, 2]);

    store
        .delivered(mid, &[0], "250 2.0.0 Ok: queued as ABC")
        .await
        .unwrap();
    let retry = later(600);
    store
        .deferred(mid, &[1], retry, "451 4.7.1 try later")
        .await
        .unwrap();
    store
        .bounced(mid, &[2], "550 5.1.1 no such user")
        .await
        .unwrap();

    let env = store.envelope(mid).await.unwrap().unwrap();
    let [r0, r1, r2] = &env.recipients[..] else {
        panic!("3 recipients")
    };
    assert_eq!(r0.state, RcptState::Delivered);
    assert_eq!(
        r0.last_reason.as_deref(),
        Some("250 2.0.0 Ok: queued as ABC")
    );
    assert!(!r0.in_flight);
    assert_eq!(r1.state, RcptState::Queued);
    assert!(!r1.in_flight);
    assert_eq!(r1.attempts, 1);
    let first = r1.first_attempt.expect("first_attempt set by deferred");
    assert!(first <= SystemTime::now());
    let drift = retry.duration_since(r1.next_attempt).unwrap();
    assert!(
        drift < Duration::from_millis(1),
        "next_attempt kept to the ms"
    );
    assert_eq!(r1.last_reason.as_deref(), Some("451 4.7.1 try later"));
    assert_eq!(r2.state, RcptState::Bounced);
    assert_eq!(r2.last_reason.as_deref(), Some("550 5.1.1 no such user"));

    // Deferred: not due before its time, due after.
    assert!(store.due(SystemTime::now(), 100).await.unwrap().is_empty());
    assert_eq!(store.next_due_time().await.unwrap(), Some(r1.next_attempt));
    let again = store.due(later(601), 100).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].mid, again[0].rid), (mid, 1));

    // A second deferral counts a second attempt and keeps first_attempt.
    store
        .deferred(mid, &[1], later(1200), "451 again")
        .await
        .unwrap();
    let r1b = store.envelope(mid).await.unwrap().unwrap().recipients[1].clone();
    assert_eq!(r1b.attempts, 2);
    assert_eq!(r1b.first_attempt, Some(first));

    // Outcomes on final recipients are ignored (never counted twice).
    store.delivered(mid, &[0, 2], "250 again").await.unwrap();
    store.bounced(mid, &[0], "550 late").await.unwrap();
    let env = store.envelope(mid).await.unwrap().unwrap();
    assert_eq!(env.recipients[0].state, RcptState::Delivered);
    assert_eq!(
        env.recipients[0].last_reason.as_deref(),
        Some("250 2.0.0 Ok: queued as ABC")
    );
    assert_eq!(env.recipients[2].state, RcptState::Bounced);
    // Unknown message / recipients: no error, nothing happens.
    store.delivered(mid, &[42], "250").await.unwrap();
    store.delivered(9999, &[0], "250").await.unwrap();
    store
        .deferred(u64::MAX, &[u64::MAX], later(1), "x")
        .await
        .unwrap();

    // Not collectable while a recipient is queued.
    assert_eq!(store.gc().await.unwrap(), 0);
    store.delivered(mid, &[1], "250 finally").await.unwrap();
    assert_eq!(store.next_due_time().await.unwrap(), None);
    assert_eq!(store.gc().await.unwrap(), 1);
    assert_eq!(store.envelope(mid).await.unwrap(), None);
    assert_eq!(store.data(mid).await.unwrap(), None);
    assert_eq!(store.gc().await.unwrap(), 0);
}

async fn leases(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let mid = store
        .enqueue(msg(
            "a@example.org",
            &["r0@example.com", "r1@example.com", "r2@example.com"],
        ))
        .await
        .unwrap();
    let now = SystemTime::now();

    let first = store.due(now, 2).await.unwrap();
    assert_eq!(first.iter().map(|r| r.rid).collect::<Vec<_>>(), vec![0, 1]);
    let second = store.due(now, 10).await.unwrap();
    assert_eq!(
        second.iter().map(|r| r.rid).collect::<Vec<_>>(),
        vec![2],
        "leased ones are not returned twice"
    );
    assert!(store.due(now, 10).await.unwrap().is_empty());
    assert!(store.due(now, 0).await.unwrap().is_empty());
    assert_eq!(
        store.next_due_time().await.unwrap(),
        None,
        "in-flight recipients are not waited for"
    );

    // In-flight recipients are listed (and flagged) and counted.
    let listed = store.list(None, 10).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|r| r.in_flight));
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.total.in_flight, 3);
    assert_eq!(stats.total.active, 0);

    // release: back without counting an attempt.
    store.release(mid, &[1]).await.unwrap();
    let back = store.due(now, 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].rid, 1);
    assert_eq!(back[0].attempts, 0);
    store.release(mid, &[0, 1, 2]).await.unwrap();
    assert_eq!(store.due(now, 10).await.unwrap().len(), 3);

    // deferred releases the lease too.
    store.deferred(mid, &[0], now, "421 busy").await.unwrap();
    let d = store.due(now, 10).await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].rid, d[0].attempts), (0, 1));

    // postpone: back without counting an attempt, due again only at the given time.
    store.postpone(mid, &[0], later(60)).await.unwrap();
    assert!(store.due(now, 10).await.unwrap().is_empty());
    let again = store.due(later(61), 10).await.unwrap();
    assert_eq!(
        (again[0].rid, again[0].attempts),
        (0, 1),
        "postpone adds no attempt"
    );
}

async fn due_order_and_limit(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let mut mids = Vec::new();
    for i in 0..5 {
        mids.push(
            store
                .enqueue(msg("a@example.org", &[&format!("r{i}@example.com")]))
                .await
                .unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Nothing is due before it was received.
    let past = SystemTime::now() - Duration::from_secs(3600);
    assert!(store.due(past, 10).await.unwrap().is_empty());

    let now = SystemTime::now();
    let got: Vec<_> = store
        .due(now, 3)
        .await
        .unwrap()
        .iter()
        .map(|r| r.mid)
        .collect();
    assert_eq!(got, mids[..3], "oldest first");
    // Defer the oldest to a time before the others' receive time... they stay ordered by
    // next_attempt: a retry due earlier comes first.
    store
        .deferred(
            mids[0],
            &[0],
            SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            "x",
        )
        .await
        .unwrap();
    store.release(mids[1], &[0]).await.unwrap();
    let got: Vec<_> = store
        .due(now, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.mid)
        .collect();
    assert_eq!(got, vec![mids[0], mids[1], mids[3], mids[4]]);
}

async fn deliver_now_per_domain_and_all(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let mid = store
        .enqueue(msg(
            "a@example.org",
            &["a@one.example", "b@one.example", "c@two.example"],
        ))
        .await
        .unwrap();
    let now = SystemTime::now();
    assert_eq!(store.due(now, 10).await.unwrap().len(), 3);
    store
        .deferred(mid, &[0, 1, 2], later(3600), "451")
        .await
        .unwrap();
    assert!(store.due(SystemTime::now(), 10).await.unwrap().is_empty());
    let next = store.next_due_time().await.unwrap().unwrap();
    assert!(next > later(3500));

    assert_eq!(store.deliver_now(Some("ONE.example")).await.unwrap(), 2);
    let due = store.due(SystemTime::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|r| r.rid).collect::<Vec<_>>(), vec![0, 1]);
    assert!(
        due.iter().all(|r| r.attempts == 1),
        "deliver_now does not reset attempts"
    );
    assert_eq!(store.deliver_now(Some("nowhere.example")).await.unwrap(), 0);

    assert_eq!(
        store.deliver_now(None).await.unwrap(),
        3,
        "all queued recipients, in flight included"
    );
    let due = store.due(SystemTime::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|r| r.rid).collect::<Vec<_>>(), vec![2]);
    store.delivered(mid, &[0, 1, 2], "250").await.unwrap();
    assert_eq!(store.deliver_now(None).await.unwrap(), 0);
}

async fn stats_list_remove_delay_warned(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let m1 = store
        .enqueue(msg(
            "a@example.org",
            &["a@one.example", "b@one.example", "c@two.example"],
        ))
        .await
        .unwrap();
    let m2 = store
        .enqueue(msg("b@example.org", &["d@two.example"]))
        .await
        .unwrap();

    let stats = store.stats().await.unwrap();
    assert_eq!(stats.messages, 2);
    assert_eq!(stats.domains.len(), 2);
    assert_eq!(stats.domains["one.example"].active, 2);
    assert_eq!(stats.domains["two.example"].active, 2);
    assert_eq!(stats.total.active, 4);

    let now = SystemTime::now();
    store.due(now, 10).await.unwrap();
    store.delivered(m1, &[0], "250").await.unwrap();
    store.deferred(m1, &[1], now, "451").await.unwrap();
    store.deferred(m2, &[0], now, "451").await.unwrap();
    store.due(now, 10).await.unwrap();
    store.deferred(m1, &[1], later(60), "451").await.unwrap();
    store.bounced(m1, &[2], "550").await.unwrap();

    let stats = store.stats().await.unwrap();
    let one = stats.domains["one.example"];
    assert_eq!(
        (
            one.active,
            one.in_flight,
            one.delivered,
            one.soft_bounced,
            one.hard_bounced
        ),
        (1, 0, 1, 2, 0)
    );
    let two = stats.domains["two.example"];
    assert_eq!(
        (
            two.active,
            two.in_flight,
            two.delivered,
            two.soft_bounced,
            two.hard_bounced
        ),
        (0, 1, 0, 1, 1)
    );
    assert_eq!(stats.total.soft_bounced, 3);
    assert_eq!(stats.total.delivered, 1);
    assert_eq!(stats.total.hard_bounced, 1);

    let listed = store.list(None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| (r.mid, r.rid)).collect::<Vec<_>>(),
        vec![(m1, 1), (m2, 0)]
    );
    let listed = store.list(Some("TWO.example"), 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| (r.mid, r.rid)).collect::<Vec<_>>(),
        vec![(m2, 0)]
    );
    assert_eq!(store.list(None, 1).await.unwrap().len(), 1);

    store.set_delay_warned(m1).await.unwrap();
    assert!(store.envelope(m1).await.unwrap().unwrap().delay_warned);
    assert!(!store.envelope(m2).await.unwrap().unwrap().delay_warned);

    assert!(store.remove(m2).await.unwrap());
    assert!(!store.remove(m2).await.unwrap());
    assert_eq!(store.envelope(m2).await.unwrap(), None);
    assert_eq!(store.data(m2).await.unwrap(), None);
    // A late result for a removed message is harmless.
    store.delivered(m2, &[0], "250").await.unwrap();

    // Counters survive gc; queue counts do not include removed recipients.
    store.delivered(m1, &[1], "250").await.unwrap();
    assert_eq!(store.gc().await.unwrap(), 1);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.messages, 0);
    assert_eq!(stats.total.active + stats.total.in_flight, 0);
    assert_eq!(stats.total.delivered, 2);
    assert_eq!(stats.domains["two.example"].hard_bounced, 1);
}

async fn restart_recovers_leases_and_keeps_mids_increasing(fx: Fixture) {
    let (m1, m2);
    {
        let store = fx.open().await.unwrap();
        m1 = store
            .enqueue(msg("a@example.org", &["a@one.example", "b@one.example"]))
            .await
            .unwrap();
        m2 = store
            .enqueue(msg("a@example.org", &["c@two.example"]))
            .await
            .unwrap();
        let due = store.due(SystemTime::now(), 10).await.unwrap();
        assert_eq!(due.len(), 3);
        store.delivered(m1, &[0], "250").await.unwrap();
        store.set_delay_warned(m2).await.unwrap();
        // A second store on the same directory is refused while this one is open.
        let err = fx.open().await.err().expect("second open refused");
        assert!(fx.is_in_use(&err), "{err}");
    }
    let store = fx.open().await.unwrap();
    let due = store.due(SystemTime::now(), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|r| (r.mid, r.rid)).collect::<HashSet<_>>(),
        HashSet::from([(m1, 1), (m2, 0)]),
        "in-flight recipients are queued again, delivered ones are not"
    );
    assert!(store.envelope(m2).await.unwrap().unwrap().delay_warned);
    assert_eq!(store.stats().await.unwrap().total.delivered, 1);

    // MIDs keep increasing across restarts, even when the queue was emptied.
    store.delivered(m1, &[1], "250").await.unwrap();
    store.delivered(m2, &[0], "250").await.unwrap();
    assert_eq!(store.gc().await.unwrap(), 2);
    drop(store);
    let store = fx.open().await.unwrap();
    let m3 = store
        .enqueue(msg("a@example.org", &["x@one.example"]))
        .await
        .unwrap();
    assert!(m3 > m2, "{m3} > {m2}");
    assert!(store.integrity_ok().await);
}

async fn concurrent_enqueues_are_durable_and_group_committed(fx: Fixture) {
    let store = fx.open().await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store: Arc<dyn Store> = store.clone().into_arc();
            tokio::spawn(async move {
                let mut m = msg(
                    &format!("s{i}@example.org"),
                    &[&format!("r{i}@d{}.example", i % 7)],
                );
                m.data = vec![b'x'; 4096];
                store.enqueue(m).await
            })
        })
        .collect();
    let mut mids = HashSet::new();
    for t in tasks {
        assert!(mids.insert(t.await.unwrap().unwrap()), "MIDs are unique");
    }
    assert_eq!(mids.len(), 200);
    let ws = store.writer_stats();
    assert!(
        ws.commits < ws.ops,
        "group commit batched something: {ws:?}"
    );

    // Durable: visible after a restart, and all returned by due().
    drop(store);
    let store = fx.open().await.unwrap();
    let mut seen = HashSet::new();
    loop {
        let batch = store.due(SystemTime::now(), 64).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for r in batch {
            assert!(seen.insert(r.mid), "returned once");
        }
    }
    assert_eq!(seen, mids);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.messages, 200);
    assert_eq!(stats.total.in_flight, 200);
}

async fn store_is_usable_as_trait_object(fx: Fixture) {
    let store: Arc<dyn Store> = fx.open().await.unwrap().into_arc();
    let mid = store
        .enqueue(msg("a@example.org", &["b@example.com"]))
        .await
        .unwrap();
    assert_eq!(
        store.list(Some("example.com"), 5).await.unwrap()[0].mid,
        mid
    );
}

async fn each_recipient_names_the_node_holding_it(fx: Fixture) {
    let store = fx.open_node("gw7").await.unwrap();
    let mid = store
        .enqueue(msg("a@example.org", &["b@example.com", "c@example.net"]))
        .await
        .unwrap();
    let env = store.envelope(mid).await.unwrap().unwrap();
    assert_eq!(env.node, "gw7", "the accepting node");
    assert!(env.recipients.iter().all(|r| r.node == "gw7"));
    let listed = store.list(None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| r.node == "gw7" && !r.in_flight));

    // Leased: held by the node delivering it (this one).
    let due = store.due(SystemTime::now(), 1).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].node, "gw7");
    let listed = store.list(Some("example.com"), 10).await.unwrap();
    assert!(listed[0].in_flight && listed[0].node == "gw7");
    store
        .deferred(mid, &[0], later(600), "451 later")
        .await
        .unwrap();
    let env = store.envelope(mid).await.unwrap().unwrap();
    assert!(
        env.recipients
            .iter()
            .all(|r| r.node == "gw7" && !r.in_flight)
    );
    drop(env);
    drop(store);

    // Reopened under another name: PostgreSQL keeps the accepting node of each message;
    // the embedded store is one node and names itself.
    let store = fx.open_node("gw8").await.unwrap();
    let env = store.envelope(mid).await.unwrap().unwrap();
    let expected = match fx.kind {
        common::Kind::Sqlite => "gw8",
        common::Kind::Postgres => "gw7",
    };
    assert_eq!(env.node, expected);
    let listed = store.list(None, 10).await.unwrap();
    assert!(listed.iter().all(|r| r.node == expected), "{listed:?}");
    let mid2 = store.enqueue(msg("", &["d@example.com"])).await.unwrap();
    assert_eq!(store.envelope(mid2).await.unwrap().unwrap().node, "gw8");
}
