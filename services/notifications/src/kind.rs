//! Every kind of notification, the category it belongs to, and its name as
//! stored and shown to clients.

use crate::category::Category;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ConfirmationCode,
    ResetCode,
    PasswordSetup,
    FeedbackOnYourInput,
    FeedbackOnFollowedInput,
    StatusOfYourInput,
    StatusOfFollowedInput,
    CommentOnYourInput,
    ReplyToYourComment,
    ProjectPublished,
    PhaseStarted,
    PhaseEndingSoon,
    UpdatePosted,
    RightsReceived,
    ProposalToReview,
    ProposalDecided,
    InputReported,
    InputPosted,
    InputToScreen,
    InputOverdue,
    InputOverdueEscalated,
    DeadlineApproaching,
    Digest,
    Report,
    Announcement,
}

pub const ALL: [Kind; 25] = [
    Kind::ConfirmationCode,
    Kind::ResetCode,
    Kind::PasswordSetup,
    Kind::FeedbackOnYourInput,
    Kind::FeedbackOnFollowedInput,
    Kind::StatusOfYourInput,
    Kind::StatusOfFollowedInput,
    Kind::CommentOnYourInput,
    Kind::ReplyToYourComment,
    Kind::ProjectPublished,
    Kind::PhaseStarted,
    Kind::PhaseEndingSoon,
    Kind::UpdatePosted,
    Kind::RightsReceived,
    Kind::ProposalToReview,
    Kind::ProposalDecided,
    Kind::InputReported,
    Kind::InputPosted,
    Kind::InputToScreen,
    Kind::InputOverdue,
    Kind::InputOverdueEscalated,
    Kind::DeadlineApproaching,
    Kind::Digest,
    Kind::Report,
    Kind::Announcement,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::ConfirmationCode => "confirmation_code",
            Self::ResetCode => "reset_code",
            Self::PasswordSetup => "password_setup",
            Self::FeedbackOnYourInput => "feedback_on_your_input",
            Self::FeedbackOnFollowedInput => "feedback_on_followed_input",
            Self::StatusOfYourInput => "status_of_your_input",
            Self::StatusOfFollowedInput => "status_of_followed_input",
            Self::CommentOnYourInput => "comment_on_your_input",
            Self::ReplyToYourComment => "reply_to_your_comment",
            Self::ProjectPublished => "project_published",
            Self::PhaseStarted => "phase_started",
            Self::PhaseEndingSoon => "phase_ending_soon",
            Self::UpdatePosted => "update_posted",
            Self::RightsReceived => "rights_received",
            Self::ProposalToReview => "proposal_to_review",
            Self::ProposalDecided => "proposal_decided",
            Self::InputReported => "input_reported",
            Self::InputPosted => "input_posted",
            Self::InputToScreen => "input_to_screen",
            Self::InputOverdue => "input_overdue",
            Self::InputOverdueEscalated => "input_overdue_escalated",
            Self::DeadlineApproaching => "deadline_approaching",
            Self::Digest => "digest",
            Self::Report => "report",
            Self::Announcement => "announcement",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn category(self) -> Category {
        match self {
            Self::ConfirmationCode | Self::ResetCode | Self::PasswordSetup => {
                Category::Transactional
            }
            Self::FeedbackOnYourInput
            | Self::FeedbackOnFollowedInput
            | Self::StatusOfYourInput
            | Self::StatusOfFollowedInput => Category::Feedback,
            Self::CommentOnYourInput | Self::ReplyToYourComment => Category::Comments,
            Self::ProjectPublished
            | Self::PhaseStarted
            | Self::PhaseEndingSoon
            | Self::UpdatePosted
            // News of the projects a manager runs: gathered by default, since
            // a popular consultation brings hundreds a day.
            | Self::InputPosted => Category::Projects,
            Self::RightsReceived
            | Self::ProposalToReview
            | Self::ProposalDecided
            | Self::InputReported
            // Work only a manager can do before the input is seen at all.
            | Self::InputToScreen
            | Self::InputOverdue
            | Self::InputOverdueEscalated
            | Self::DeadlineApproaching => Category::Staff,
            // A digest gathers several categories; it is sent as it is due.
            Self::Digest => Category::Transactional,
            Self::Report => Category::Reports,
            Self::Announcement => Category::Announcements,
        }
    }
}
