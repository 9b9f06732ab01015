//! The statuses an input moves through, and which moves are allowed. Staff
//! move inputs along `allowed_by_staff`; the service alone reaches
//! `ThresholdReached` and `Expired`.

use inspraak_proto::contributions::v1::InputStatus as Wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Proposed,
    UnderConsideration,
    Accepted,
    Rejected,
    Implemented,
    Answered,
    ThresholdReached,
    Expired,
    Prescreening,
}

const ALL: [Status; 9] = [
    Status::Proposed,
    Status::UnderConsideration,
    Status::Accepted,
    Status::Rejected,
    Status::Implemented,
    Status::Answered,
    Status::ThresholdReached,
    Status::Expired,
    Status::Prescreening,
];

impl Status {
    /// The name stored and carried by events.
    pub fn name(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::UnderConsideration => "under_consideration",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Implemented => "implemented",
            Self::Answered => "answered",
            Self::ThresholdReached => "threshold_reached",
            Self::Expired => "expired",
            Self::Prescreening => "prescreening",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn wire(self) -> Wire {
        match self {
            Self::Proposed => Wire::Proposed,
            Self::UnderConsideration => Wire::UnderConsideration,
            Self::Accepted => Wire::Accepted,
            Self::Rejected => Wire::Rejected,
            Self::Implemented => Wire::Implemented,
            Self::Answered => Wire::Answered,
            Self::ThresholdReached => Wire::ThresholdReached,
            Self::Expired => Wire::Expired,
            Self::Prescreening => Wire::Prescreening,
        }
    }

    /// The status a wire value names; `None` for UNSPECIFIED and unknown
    /// numbers.
    pub fn from_wire(value: i32) -> Option<Self> {
        ALL.into_iter().find(|s| s.wire() as i32 == value)
    }

    /// Set by the service alone, never by staff.
    pub fn system_only(self) -> bool {
        matches!(self, Self::ThresholdReached | Self::Expired)
    }

    /// Where staff may move an input from here. Reopening goes through
    /// `UnderConsideration`, so every decision reversed is a visible act.
    pub fn allowed_by_staff(self) -> &'static [Status] {
        use Status::{
            Accepted, Answered, Expired, Implemented, Prescreening, Proposed, Rejected,
            ThresholdReached, UnderConsideration,
        };
        match self {
            Proposed | ThresholdReached => &[UnderConsideration, Accepted, Rejected, Answered],
            UnderConsideration => &[Accepted, Rejected, Answered],
            Accepted => &[Implemented, UnderConsideration],
            Rejected | Answered | Expired => &[UnderConsideration],
            Implemented => &[Accepted],
            // Publishing a screened input, or refusing it.
            Prescreening => &[Proposed, Rejected],
        }
    }

    pub fn may_become(self, next: Self) -> bool {
        self.allowed_by_staff().contains(&next)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::{ALL, Status};

    #[test]
    fn names_and_wire_values_round_trip() {
        for status in ALL {
            assert_eq!(Status::from_name(status.name()), Some(status));
            assert_eq!(Status::from_wire(status.wire() as i32), Some(status));
        }
        assert_eq!(Status::from_wire(0), None);
        assert_eq!(Status::from_name("closed"), None);
    }

    #[test]
    fn staff_never_reach_a_system_status_nor_stay_put() {
        for from in ALL {
            for to in from.allowed_by_staff() {
                assert!(!to.system_only(), "{from} -> {to}");
                assert_ne!(from, *to);
            }
        }
    }
}
