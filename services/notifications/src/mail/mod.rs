//! E-mail: what a notification says, its texts, how it leaves, and the
//! workers that send deliveries and gather digests.

pub mod content;
pub mod digest;
pub mod sender;
pub mod templates;
pub mod transport;
pub mod unsubscribe;
