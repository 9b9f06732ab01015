//! The deliveries of one AMQP channel not yet settled, and how to
//! acknowledge several of them in as few frames as is safe.
//!
//! A `basic.ack` with `multiple` set acknowledges every delivery of the
//! channel up to its tag that is not acknowledged yet. So it may stand for
//! a set of deliveries only when nothing delivered before the highest of
//! them is still unsettled: an event still being applied, retried or
//! dead-lettered must stay unacknowledged until its own turn, or a crash
//! would lose it. The deliveries being settled that are below every other
//! unsettled one share one multiple ack; the rest are acknowledged one by
//! one. After a batch's commit its events are usually the oldest in hand,
//! so a batch mostly takes one frame instead of one per event.

use std::collections::BTreeSet;

/// Delivery tags handed to the consumer and not yet acknowledged or
/// requeued, in the order the broker numbered them.
#[derive(Debug, Default)]
pub(super) struct Unsettled {
    tags: BTreeSet<u64>,
}

/// How a set of deliveries is to be acknowledged.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Settlement {
    /// One ack with `multiple` at this tag, standing for every tag of the
    /// set up to it.
    pub multiple: Option<u64>,
    /// Tags acknowledged each on its own.
    pub single: Vec<u64>,
}

impl Settlement {
    /// The frame that acknowledges `tag`: `Some(multiple)` for a frame of
    /// its own, `None` when the multiple ack covers it or it is not to be
    /// acknowledged (not in the set, or settled before).
    pub fn frame(&self, tag: u64) -> Option<bool> {
        match self.multiple {
            Some(up_to) if tag == up_to => Some(true),
            Some(up_to) if tag < up_to => None,
            _ => self.single.contains(&tag).then_some(false),
        }
    }
}

impl Unsettled {
    /// A delivery handed out (tags only grow on a channel).
    pub fn delivered(&mut self, tag: u64) {
        self.tags.insert(tag);
    }

    /// A delivery settled on its own (a requeue).
    pub fn forget(&mut self, tag: u64) {
        self.tags.remove(&tag);
    }

    /// Takes `tags` out of the unsettled set and says how to acknowledge
    /// them. A tag not unsettled (settled already) is left out: acking it
    /// again would close the channel.
    pub fn settle(&mut self, tags: &[u64]) -> Settlement {
        let mut settling: Vec<u64> = tags
            .iter()
            .copied()
            .filter(|tag| self.tags.remove(tag))
            .collect();
        settling.sort_unstable();
        settling.dedup();
        // Below every delivery still unsettled, a multiple ack covers only
        // tags of this set (and ones acknowledged before, which it leaves
        // alone).
        let oldest_unsettled = self.tags.first().copied().unwrap_or(u64::MAX);
        let below = settling.partition_point(|tag| *tag < oldest_unsettled);
        let single = settling.split_off(below);
        Settlement {
            multiple: settling.last().copied(),
            single,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Settlement, Unsettled};

    fn handed_out(tags: impl IntoIterator<Item = u64>) -> Unsettled {
        let mut unsettled = Unsettled::default();
        for tag in tags {
            unsettled.delivered(tag);
        }
        unsettled
    }

    #[test]
    fn the_oldest_deliveries_take_one_multiple_ack() {
        let mut unsettled = handed_out(1..=10);
        let settlement = unsettled.settle(&[3, 1, 2, 4]);
        assert_eq!(
            settlement,
            Settlement {
                multiple: Some(4),
                single: vec![]
            }
        );
        assert_eq!(settlement.frame(4), Some(true));
        assert_eq!(settlement.frame(1), None);
        // The rest, with nothing older left, again in one.
        assert_eq!(unsettled.settle(&[5, 6, 7, 8, 9, 10]).multiple, Some(10));
        assert!(unsettled.tags.is_empty());
    }

    #[test]
    fn an_older_delivery_in_hand_keeps_the_younger_ones_single() {
        // 2 is being retried: acking 3..=5 with a multiple ack would
        // acknowledge it too.
        let mut unsettled = handed_out(1..=5);
        let settlement = unsettled.settle(&[1, 3, 4, 5]);
        assert_eq!(
            settlement,
            Settlement {
                multiple: Some(1),
                single: vec![3, 4, 5]
            }
        );
        assert_eq!(settlement.frame(3), Some(false));
        // Once 2 is settled, nothing is older than the next ones.
        assert_eq!(
            unsettled.settle(&[2]),
            Settlement {
                multiple: Some(2),
                single: vec![]
            }
        );
    }

    #[test]
    fn a_multiple_ack_never_passes_a_younger_delivery_left_unsettled() {
        let mut unsettled = handed_out(1..=6);
        // 4 is still in hand; 1..=3 and 5 are settled.
        let settlement = unsettled.settle(&[5, 1, 2, 3]);
        assert_eq!(settlement.multiple, Some(3));
        assert_eq!(settlement.single, vec![5]);
        // 4 is not acknowledged by any frame.
        assert_eq!(settlement.frame(4), None);
        assert!(unsettled.tags.contains(&4) && unsettled.tags.contains(&6));
    }

    #[test]
    fn requeued_deliveries_do_not_hold_back_the_others() {
        let mut unsettled = handed_out(1..=3);
        unsettled.forget(1);
        assert_eq!(unsettled.settle(&[2, 3]).multiple, Some(3));
    }

    #[test]
    fn a_tag_settled_twice_is_acknowledged_once() {
        let mut unsettled = handed_out(1..=3);
        assert_eq!(unsettled.settle(&[1]).multiple, Some(1));
        assert_eq!(unsettled.settle(&[1, 1]), Settlement::default());
        assert_eq!(unsettled.settle(&[2, 2]).multiple, Some(2));
    }
}
