//! Acknowledging several deliveries at once on RabbitMQ: one multiple ack
//! where it is safe, and never an ack for a delivery still in hand. What a
//! connection leaves unacknowledged goes back to the queue; so after the
//! connection closes, the queue holds exactly the deliveries that were not
//! acknowledged.

use std::time::Duration;

use inspraak_bus::broker::{AmqpBroker, Broker, Delivery, Outgoing, QueueSpec, Target};
use inspraak_bus::testing::delete_rabbit_objects;
use inspraak_bus::{BrokerError, QueueKind};
use inspraak_kit::testing::{amqp_url, unique};

struct Queue {
    spec: QueueSpec,
    exchange: String,
}

impl Queue {
    fn new() -> Self {
        let name = unique("acks_test_");
        Self {
            spec: QueueSpec {
                name: name.clone(),
                bindings: vec![],
                kind: QueueKind::Quorum,
                dead_letter_queue: format!("{name}.dlq"),
                delivery_limit: 20,
            },
            exchange: format!("{name}.exchange"),
        }
    }

    fn broker(&self) -> AmqpBroker {
        AmqpBroker::new(amqp_url(), unique("acks-test-"), &self.exchange)
    }

    /// Publishes messages `0..count` (their ids) straight into the queue.
    async fn fill(&self, broker: &Broker, count: usize) {
        broker.declare_queue(&self.spec).await.expect("declare");
        let batch: Vec<Outgoing> = (0..count)
            .map(|n| Outgoing {
                target: Target::Queue(self.spec.name.clone()),
                routing_key: "test.ack.published.v1".to_owned(),
                message_id: n.to_string(),
                headers: Default::default(),
                body: vec![u8::try_from(n).expect("small")],
            })
            .collect();
        broker.publish_confirmed(&batch).await.expect("publish");
    }

    /// Takes `count` deliveries, in order.
    async fn take(&self, broker: &Broker, count: usize) -> (Vec<Delivery>, impl Sized) {
        let mut subscription = broker
            .subscribe(&self.spec.name, 100)
            .await
            .expect("subscribe");
        let mut taken = Vec::new();
        while taken.len() < count {
            let next = tokio::time::timeout(Duration::from_secs(10), subscription.next())
                .await
                .expect("a delivery within 10 s")
                .expect("the subscription lives")
                .expect("a delivery");
            taken.push(next);
        }
        (taken, subscription)
    }

    /// The ids left in the queue once `broker`'s connection closed (which
    /// returns what it did not acknowledge), looked at from a new one.
    async fn left_after_closing(&self, broker: AmqpBroker) -> Vec<String> {
        broker.close().await;
        let looker = Broker::Amqp(self.broker());
        // The broker requeues a closed connection's deliveries shortly
        // after the close: the same answer five looks in a row (half a
        // second) is taken as settled.
        let (mut previous, mut same) = (None, 0);
        for _ in 0..100 {
            let (peeked, _) = looker.peek(&self.spec.name, 100).await.expect("peek");
            let ids: Vec<String> = peeked.into_iter().map(|p| p.message_id).collect();
            same = if previous.as_ref() == Some(&ids) {
                same + 1
            } else {
                0
            };
            previous = Some(ids);
            if same == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.remove(&looker).await;
        let mut ids = previous.unwrap_or_default();
        ids.sort_by_key(|id| id.parse::<u32>().unwrap_or(u32::MAX));
        ids
    }

    async fn remove(&self, broker: &Broker) {
        if let Broker::Amqp(amqp) = broker {
            amqp.close().await;
        }
        delete_rabbit_objects(
            &amqp_url(),
            &self.exchange,
            &[self.spec.name.clone(), self.spec.dead_letter_queue.clone()],
        )
        .await;
    }
}

fn ids(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|d| d.message_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_younger_deliveries_leaves_an_older_one_in_hand_unacknowledged() {
    let queue = Queue::new();
    let amqp = queue.broker();
    let broker = Broker::Amqp(amqp.clone());
    queue.fill(&broker, 10).await;
    let (mut taken, _subscription) = queue.take(&broker, 10).await;
    assert_eq!(
        ids(&taken),
        (0..10).map(|n| n.to_string()).collect::<Vec<_>>()
    );
    // 3 is still being applied (a retry, say) when the others are done: a
    // multiple ack up to 9 would take it from the queue too.
    let in_hand = taken.remove(3);
    let younger = taken.split_off(3);
    Delivery::ack_all(younger)
        .await
        .expect("acks of 4..=9 (one each)");
    Delivery::ack_all(taken)
        .await
        .expect("acks of 0..=2 (one multiple ack)");
    assert_eq!(in_hand.message_id, "3");
    assert_eq!(queue.left_after_closing(amqp).await, vec!["3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_acknowledged_out_of_order_are_all_acknowledged() {
    let queue = Queue::new();
    let amqp = queue.broker();
    let broker = Broker::Amqp(amqp.clone());
    queue.fill(&broker, 30).await;
    let (mut taken, _subscription) = queue.take(&broker, 30).await;
    // Three batches committed in the order 2, 3, 1, as concurrent
    // transactions may; then the last stragglers one at a time.
    let third = taken.split_off(20);
    let second = taken.split_off(10);
    let straggler = taken.pop().expect("nine left");
    Delivery::ack_all(second).await.expect("second batch");
    Delivery::ack_all(third).await.expect("third batch");
    Delivery::ack_all(taken).await.expect("first batch");
    // Nothing is older than it now: had any ack above been a multiple one
    // past it, this would be an unknown tag and close the channel.
    straggler.ack().await.expect("the straggler");
    assert_eq!(
        queue.left_after_closing(amqp).await,
        Vec::<String>::new(),
        "every delivery acknowledged exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeued_delivery_holds_back_no_multiple_ack() -> Result<(), BrokerError> {
    let queue = Queue::new();
    let amqp = queue.broker();
    let broker = Broker::Amqp(amqp.clone());
    queue.fill(&broker, 5).await;
    let (mut taken, _subscription) = queue.take(&broker, 5).await;
    let first = taken.remove(0);
    first.requeue().await?;
    // 1..=4, nothing older unsettled: one multiple ack, leaving 0 (requeued,
    // redelivered to this subscription or waiting in the queue) alone.
    Delivery::ack_all(taken).await?;
    assert_eq!(queue.left_after_closing(amqp).await, vec!["0"]);
    Ok(())
}
