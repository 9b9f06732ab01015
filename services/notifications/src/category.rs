//! Categories of notifications and how often each person wants them by
//! e-mail. Preferences govern e-mail; the in-app inbox receives every
//! notification meant for the person (it sends nothing).

use inspraak_proto::notifications::v1 as proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Feedback,
    Comments,
    Projects,
    Staff,
    Announcements,
    Reports,
    /// Confirmation and reset codes: always sent at once, never
    /// unsubscribable, never in the inbox.
    Transactional,
}

/// The categories a person can set.
pub const CHOOSABLE: [Category; 6] = [
    Category::Feedback,
    Category::Comments,
    Category::Projects,
    Category::Staff,
    Category::Announcements,
    Category::Reports,
];

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Self::Feedback => "feedback",
            Self::Comments => "comments",
            Self::Projects => "projects",
            Self::Staff => "staff",
            Self::Announcements => "announcements",
            Self::Reports => "reports",
            Self::Transactional => "transactional",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        CHOOSABLE
            .into_iter()
            .chain([Self::Transactional])
            .find(|c| c.name() == name)
    }

    pub fn wire(self) -> proto::Category {
        match self {
            Self::Feedback => proto::Category::Feedback,
            Self::Comments => proto::Category::Comments,
            Self::Projects => proto::Category::Projects,
            Self::Staff => proto::Category::Staff,
            Self::Announcements => proto::Category::Announcements,
            Self::Reports => proto::Category::Reports,
            Self::Transactional => proto::Category::Unspecified,
        }
    }

    pub fn from_wire(value: i32) -> Option<Self> {
        CHOOSABLE.into_iter().find(|c| c.wire() as i32 == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Instant,
    Daily,
    Weekly,
    Off,
}

const FREQUENCIES: [Frequency; 4] = [
    Frequency::Instant,
    Frequency::Daily,
    Frequency::Weekly,
    Frequency::Off,
];

impl Frequency {
    pub fn name(self) -> &'static str {
        match self {
            Self::Instant => "instant",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Off => "off",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        FREQUENCIES.into_iter().find(|f| f.name() == name)
    }

    pub fn wire(self) -> proto::Frequency {
        match self {
            Self::Instant => proto::Frequency::Instant,
            Self::Daily => proto::Frequency::Daily,
            Self::Weekly => proto::Frequency::Weekly,
            Self::Off => proto::Frequency::Off,
        }
    }

    pub fn from_wire(value: i32) -> Option<Self> {
        FREQUENCIES.into_iter().find(|f| f.wire() as i32 == value)
    }
}

/// The frequency a person with `roles` gets for `category` until they
/// choose: what concerns them directly at once, the rest gathered, so that
/// nobody is flooded by default.
pub fn default_frequency(category: Category, roles: &[String]) -> Frequency {
    let has = |role: &str| roles.iter().any(|r| r == role);
    match category {
        Category::Feedback | Category::Comments | Category::Staff | Category::Transactional => {
            Frequency::Instant
        }
        Category::Projects => Frequency::Daily,
        Category::Announcements => Frequency::Weekly,
        Category::Reports if has("decision_maker") || has("platform_admin") => Frequency::Instant,
        Category::Reports => Frequency::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::{CHOOSABLE, Category, Frequency, default_frequency};

    #[test]
    fn names_and_wire_values_round_trip() {
        for category in CHOOSABLE {
            assert_eq!(Category::from_name(category.name()), Some(category));
            assert_eq!(Category::from_wire(category.wire() as i32), Some(category));
        }
        assert_eq!(
            Category::from_wire(0),
            None,
            "transactional is not choosable"
        );
        for f in [
            Frequency::Instant,
            Frequency::Daily,
            Frequency::Weekly,
            Frequency::Off,
        ] {
            assert_eq!(Frequency::from_wire(f.wire() as i32), Some(f));
        }
    }

    #[test]
    fn reports_reach_decision_makers_by_default_only() {
        let maker = vec!["decision_maker".to_owned()];
        assert_eq!(
            default_frequency(Category::Reports, &maker),
            Frequency::Instant
        );
        assert_eq!(default_frequency(Category::Reports, &[]), Frequency::Off);
        assert_eq!(default_frequency(Category::Projects, &[]), Frequency::Daily);
    }
}
