//! The platform's protobuf contracts.
//!
//! Every `.proto` under `proto/` is compiled here once; services depend on this
//! crate instead of compiling contracts themselves, and serve
//! [`FILE_DESCRIPTOR_SET`] through gRPC reflection.

/// Encoded `FileDescriptorSet` of every contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/inspraak_descriptor.bin"));

pub mod events {
    pub mod v1 {
        tonic::include_proto!("inspraak.events.v1");
    }
}

pub mod bus {
    pub mod v1 {
        tonic::include_proto!("inspraak.bus.v1");
    }
}

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("inspraak.identity.v1");
    }
}

pub mod projects {
    pub mod v1 {
        tonic::include_proto!("inspraak.projects.v1");
    }
}

pub mod contributions {
    pub mod v1 {
        tonic::include_proto!("inspraak.contributions.v1");
    }
}

pub mod notifications {
    pub mod v1 {
        tonic::include_proto!("inspraak.notifications.v1");
    }
}

#[cfg(feature = "testing")]
pub mod testing {
    pub mod v1 {
        tonic::include_proto!("inspraak.testing.v1");
    }
}
