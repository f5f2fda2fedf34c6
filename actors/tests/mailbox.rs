//! The mailbox depth metric counts hot messages while they wait in an
//! actor's mailbox, and counts them out once handled.

use std::sync::Arc;

use actors::adapter::{PileEvent, PortReport};
use actors::metrics::Mailbox;
use actors::{pile, registry, Platform};
use store::PileRecord;
use vocab::{PortNo, PortStatus};

mod common;

async fn platform(dir: &std::path::Path) -> (Arc<Platform>, PileRecord) {
    let (store, _, record) = common::store_with_pile(dir).await;
    (Platform::new(actors::Config::default(), Arc::new(store)), record)
}

#[test]
fn mailbox_depth_counts_messages_sent_and_not_yet_handled() {
    let dir = tempfile::tempdir().unwrap();
    actix_rt::System::new().block_on(async {
        let (platform, record) = platform(dir.path()).await;
        let pile = registry::pile(&platform, record).await.unwrap();
        let depth = |kind| platform.metrics.mailbox_depth(kind);
        assert_eq!(depth(Mailbox::Pile), 0);

        let report = || PortReport {
            port: PortNo(1),
            status: PortStatus::Idle,
            session: None,
            reading: None,
            faults: None,
        };
        for _ in 0..3 {
            pile.do_send(pile::Event(PileEvent::Port(report()), platform.metrics.queued(Mailbox::Pile)));
        }
        // Nothing ran yet on this single thread: all three wait.
        assert_eq!(depth(Mailbox::Pile), 3);

        // The view asks every port after the pile handled the reports, and
        // each port answers after the reports it was passed.
        pile.send(pile::View).await.unwrap();
        assert_eq!(depth(Mailbox::Pile), 0);
        assert_eq!(depth(Mailbox::Port), 0);
        let text = prometheus::TextEncoder::new().encode_to_string(&platform.metrics.registry.gather());
        assert!(text.unwrap().contains("chargeplane_actor_mailbox_depth{actor=\"pile\"} 0"));
    });
}
