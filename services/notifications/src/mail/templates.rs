//! The texts of every kind of notification in nl, fr and en (other locales
//! read English), as a subject, a plain-text body and an HTML body. What
//! people wrote is escaped in the HTML; nothing of theirs is ever markup.

use super::content::{Content, DigestItem};
use crate::kind::Kind;

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Nl,
    Fr,
    En,
}

impl Lang {
    pub fn of(locale: &str) -> Self {
        match locale.get(..2).unwrap_or_default() {
            "nl" => Self::Nl,
            "fr" => Self::Fr,
            _ => Self::En,
        }
    }
}

/// The subject and the opening line, with `{project}`, `{input}`,
/// `{status}` and `{code}` to fill in.
fn phrases(kind: Kind, lang: Lang) -> (&'static str, &'static str) {
    use Kind as K;
    use Lang::{En, Fr, Nl};
    match (kind, lang) {
        (K::ConfirmationCode, Nl) => (
            "Uw bevestigingscode",
            "Uw code om uw e-mailadres te bevestigen is {code}.",
        ),
        (K::ConfirmationCode, Fr) => (
            "Votre code de confirmation",
            "Votre code pour confirmer votre adresse e-mail est {code}.",
        ),
        (K::ConfirmationCode, En) => (
            "Your confirmation code",
            "Your code to confirm your e-mail address is {code}.",
        ),
        (K::ResetCode, Nl) => (
            "Uw code om uw wachtwoord te herstellen",
            "Uw code om een nieuw wachtwoord in te stellen is {code}.",
        ),
        (K::ResetCode, Fr) => (
            "Votre code de réinitialisation",
            "Votre code pour choisir un nouveau mot de passe est {code}.",
        ),
        (K::ResetCode, En) => (
            "Your password reset code",
            "Your code to choose a new password is {code}.",
        ),
        (K::PasswordSetup, Nl) => (
            "Stel uw wachtwoord in",
            "U bent beheerder van het platform. Uw code om een wachtwoord in te stellen is {code}.",
        ),
        (K::PasswordSetup, Fr) => (
            "Choisissez votre mot de passe",
            "Vous administrez la plateforme. Votre code pour choisir un mot de passe est {code}.",
        ),
        (K::PasswordSetup, En) => (
            "Set your password",
            "You administer the platform. Your code to set a password is {code}.",
        ),
        (K::FeedbackOnYourInput, Nl) => (
            "Antwoord op uw bijdrage \"{input}\"",
            "De stad heeft geantwoord op uw bijdrage \"{input}\" in {project}.",
        ),
        (K::FeedbackOnYourInput, Fr) => (
            "Réponse à votre contribution « {input} »",
            "La ville a répondu à votre contribution « {input} » dans {project}.",
        ),
        (K::FeedbackOnYourInput, En) => (
            "An answer to your input \"{input}\"",
            "The city answered your input \"{input}\" in {project}.",
        ),
        (K::FeedbackOnFollowedInput, Nl) => (
            "Antwoord op \"{input}\"",
            "De stad heeft geantwoord op \"{input}\" in {project}, dat u volgt.",
        ),
        (K::FeedbackOnFollowedInput, Fr) => (
            "Réponse à « {input} »",
            "La ville a répondu à « {input} » dans {project}, que vous suivez.",
        ),
        (K::FeedbackOnFollowedInput, En) => (
            "An answer to \"{input}\"",
            "The city answered \"{input}\" in {project}, which you follow.",
        ),
        (K::StatusOfYourInput, Nl) => (
            "Nieuwe status voor \"{input}\"",
            "Uw bijdrage \"{input}\" in {project} heeft nu de status {status}.",
        ),
        (K::StatusOfYourInput, Fr) => (
            "Nouveau statut pour « {input} »",
            "Votre contribution « {input} » dans {project} a maintenant le statut {status}.",
        ),
        (K::StatusOfYourInput, En) => (
            "New status for \"{input}\"",
            "Your input \"{input}\" in {project} is now {status}.",
        ),
        (K::StatusOfFollowedInput, Nl) => (
            "Nieuwe status voor \"{input}\"",
            "\"{input}\" in {project}, dat u volgt, heeft nu de status {status}.",
        ),
        (K::StatusOfFollowedInput, Fr) => (
            "Nouveau statut pour « {input} »",
            "« {input} » dans {project}, que vous suivez, a maintenant le statut {status}.",
        ),
        (K::StatusOfFollowedInput, En) => (
            "New status for \"{input}\"",
            "\"{input}\" in {project}, which you follow, is now {status}.",
        ),
        (K::CommentOnYourInput, Nl) => (
            "Een reactie op \"{input}\"",
            "Iemand reageerde op uw bijdrage \"{input}\" in {project}.",
        ),
        (K::CommentOnYourInput, Fr) => (
            "Un commentaire sur « {input} »",
            "Quelqu'un a commenté votre contribution « {input} » dans {project}.",
        ),
        (K::CommentOnYourInput, En) => (
            "A comment on \"{input}\"",
            "Someone commented on your input \"{input}\" in {project}.",
        ),
        (K::ReplyToYourComment, Nl) => (
            "Een antwoord op uw reactie",
            "Iemand antwoordde op uw reactie bij \"{input}\" in {project}.",
        ),
        (K::ReplyToYourComment, Fr) => (
            "Une réponse à votre commentaire",
            "Quelqu'un a répondu à votre commentaire sur « {input} » dans {project}.",
        ),
        (K::ReplyToYourComment, En) => (
            "A reply to your comment",
            "Someone replied to your comment on \"{input}\" in {project}.",
        ),
        (K::ProjectPublished, Nl) => (
            "Nieuw project: {project}",
            "Het project {project} is gepubliceerd.",
        ),
        (K::ProjectPublished, Fr) => (
            "Nouveau projet : {project}",
            "Le projet {project} est publié.",
        ),
        (K::ProjectPublished, En) => (
            "New project: {project}",
            "The project {project} has been published.",
        ),
        (K::PhaseStarted, Nl) => (
            "{project}: een nieuwe fase begint",
            "Een nieuwe fase van {project} is begonnen: {status}.",
        ),
        (K::PhaseStarted, Fr) => (
            "{project} : une nouvelle phase commence",
            "Une nouvelle phase de {project} a commencé : {status}.",
        ),
        (K::PhaseStarted, En) => (
            "{project}: a new phase starts",
            "A new phase of {project} has started: {status}.",
        ),
        (K::PhaseEndingSoon, Nl) => (
            "{project}: de fase loopt bijna af",
            "De fase {status} van {project} loopt binnenkort af.",
        ),
        (K::PhaseEndingSoon, Fr) => (
            "{project} : la phase se termine bientôt",
            "La phase {status} de {project} se termine bientôt.",
        ),
        (K::PhaseEndingSoon, En) => (
            "{project}: the phase ends soon",
            "The phase {status} of {project} ends soon.",
        ),
        (K::UpdatePosted, Nl) => ("Nieuws over {project}", "Er is nieuws over {project}."),
        (K::UpdatePosted, Fr) => (
            "Du nouveau sur {project}",
            "Il y a du nouveau sur {project}.",
        ),
        (K::UpdatePosted, En) => ("News about {project}", "There is news about {project}."),
        (K::RightsReceived, Nl) => ("U hebt nieuwe rechten", "U hebt de rol {status} gekregen."),
        (K::RightsReceived, Fr) => (
            "Vous avez de nouveaux droits",
            "Vous avez reçu le rôle {status}.",
        ),
        (K::RightsReceived, En) => (
            "You have new rights",
            "You have been given the role {status}.",
        ),
        (K::ProposalToReview, Nl) => (
            "Een projectvoorstel om te beoordelen",
            "Het projectvoorstel \"{input}\" wacht op uw beoordeling.",
        ),
        (K::ProposalToReview, Fr) => (
            "Une proposition de projet à examiner",
            "La proposition de projet « {input} » attend votre examen.",
        ),
        (K::ProposalToReview, En) => (
            "A project proposal to review",
            "The project proposal \"{input}\" is waiting for your review.",
        ),
        (K::ProposalDecided, Nl) => (
            "Uw projectvoorstel is beoordeeld",
            "Uw projectvoorstel \"{input}\" is beoordeeld: {status}.",
        ),
        (K::ProposalDecided, Fr) => (
            "Votre proposition de projet est examinée",
            "Votre proposition de projet « {input} » a été examinée : {status}.",
        ),
        (K::ProposalDecided, En) => (
            "Your project proposal was decided",
            "Your project proposal \"{input}\" was decided: {status}.",
        ),
        (K::InputReported, Nl) => (
            "Gemelde inhoud in {project}",
            "Inhoud bij \"{input}\" in {project} is gemeld en wacht op moderatie.",
        ),
        (K::InputReported, Fr) => (
            "Contenu signalé dans {project}",
            "Du contenu lié à « {input} » dans {project} a été signalé et attend une modération.",
        ),
        (K::InputReported, En) => (
            "Reported content in {project}",
            "Content on \"{input}\" in {project} was reported and awaits moderation.",
        ),
        (K::InputPosted, Nl) => (
            "Nieuwe bijdrage in {project}",
            "Er is een nieuwe bijdrage in {project}: \"{input}\".",
        ),
        (K::InputPosted, Fr) => (
            "Nouvelle contribution dans {project}",
            "Une nouvelle contribution a été publiée dans {project} : « {input} ».",
        ),
        (K::InputPosted, En) => (
            "New input in {project}",
            "There is new input in {project}: \"{input}\".",
        ),
        (K::InputToScreen, Nl) => (
            "Te screenen bijdrage in {project}",
            "De bijdrage \"{input}\" in {project} wacht op screening voor ze openbaar wordt.",
        ),
        (K::InputToScreen, Fr) => (
            "Contribution à examiner dans {project}",
            "La contribution « {input} » dans {project} attend votre examen avant d'être publiée.",
        ),
        (K::InputToScreen, En) => (
            "Input to screen in {project}",
            "The input \"{input}\" in {project} awaits screening before it is published.",
        ),
        (K::InputOverdue, Nl) => (
            "Onbeantwoord na de termijn: \"{input}\"",
            "De bijdrage \"{input}\" in {project} heeft na de antwoordtermijn nog geen antwoord.",
        ),
        (K::InputOverdue, Fr) => (
            "Sans réponse après le délai : « {input} »",
            "La contribution « {input} » dans {project} n'a toujours pas de réponse après le délai.",
        ),
        (K::InputOverdue, En) => (
            "Unanswered past its deadline: \"{input}\"",
            "The input \"{input}\" in {project} has no answer past its deadline.",
        ),
        (K::InputOverdueEscalated, Nl) => (
            "Nog steeds onbeantwoord: \"{input}\"",
            "De bijdrage \"{input}\" in {project} is ook na de extra termijn nog niet beantwoord. Het kernteam wordt gevraagd op te volgen.",
        ),
        (K::InputOverdueEscalated, Fr) => (
            "Toujours sans réponse : « {input} »",
            "La contribution « {input} » dans {project} reste sans réponse après le délai supplémentaire. L'équipe centrale est invitée à assurer le suivi.",
        ),
        (K::InputOverdueEscalated, En) => (
            "Still unanswered: \"{input}\"",
            "The input \"{input}\" in {project} is still unanswered after the further period. The core team is asked to follow up.",
        ),
        (K::DeadlineApproaching, Nl) => (
            "{project}: een termijn nadert",
            "Voor {project} nadert een termijn: {status}.",
        ),
        (K::DeadlineApproaching, Fr) => (
            "{project} : une échéance approche",
            "Une échéance approche pour {project} : {status}.",
        ),
        (K::DeadlineApproaching, En) => (
            "{project}: a deadline approaches",
            "A deadline approaches for {project}: {status}.",
        ),
        (K::Announcement, Nl) => ("{input}", "Een bericht van de stad: {input}"),
        (K::Announcement, Fr) => ("{input}", "Un message de la ville : {input}"),
        (K::Announcement, En) => ("{input}", "A message from the city: {input}"),
        (K::Report, Nl) => (
            "Verslag van de participatie, {status}",
            "Dit gebeurde op het participatieplatform, {status}.",
        ),
        (K::Report, Fr) => (
            "Rapport de participation, {status}",
            "Voici ce qui s'est passé sur la plateforme de participation, {status}.",
        ),
        (K::Report, En) => (
            "Participation report, {status}",
            "Here is what happened on the participation platform, {status}.",
        ),
        (K::Digest, Nl) => (
            "Uw overzicht",
            "Dit is er gebeurd sinds uw vorige overzicht.",
        ),
        (K::Digest, Fr) => (
            "Votre récapitulatif",
            "Voici ce qui s'est passé depuis votre dernier récapitulatif.",
        ),
        (K::Digest, En) => (
            "Your digest",
            "Here is what happened since your last digest.",
        ),
    }
}

fn footer(lang: Lang, unsubscribable: bool) -> &'static str {
    match (lang, unsubscribable) {
        (Lang::Nl, true) => {
            "U ontvangt deze e-mail door uw voorkeuren. Eén klik op de afmeldlink zet deze soort e-mails uit."
        }
        (Lang::Fr, true) => {
            "Vous recevez cet e-mail selon vos préférences. Un clic sur le lien de désabonnement arrête ce type d'e-mails."
        }
        (Lang::En, true) => {
            "You receive this e-mail because of your preferences. One click on the unsubscribe link turns this kind of e-mail off."
        }
        (Lang::Nl, false) => "Deze e-mail hoort bij uw account en kan niet worden uitgezet.",
        (Lang::Fr, false) => "Cet e-mail concerne votre compte et ne peut pas être désactivé.",
        (Lang::En, false) => "This e-mail concerns your account and cannot be turned off.",
    }
}

fn unsubscribe_label(lang: Lang) -> &'static str {
    match lang {
        Lang::Nl => "Afmelden",
        Lang::Fr => "Se désabonner",
        Lang::En => "Unsubscribe",
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn fill(template: &str, content: &Content) -> String {
    template
        .replace("{project}", &content.project)
        .replace("{input}", &content.input)
        .replace("{status}", &content.status)
        .replace("{code}", &content.code)
}

/// The notification's title in `lang`: the inbox shows it, a digest lists
/// it.
pub fn title(kind: Kind, lang: Lang, content: &Content) -> String {
    fill(phrases(kind, lang).1, content)
}

/// Renders a message; `unsubscribe` is the one-click link, `None` for
/// transactional mail.
pub fn render(kind: Kind, lang: Lang, content: &Content, unsubscribe: Option<&str>) -> Rendered {
    let (subject, intro) = phrases(kind, lang);
    let subject = fill(subject, content);
    let intro = fill(intro, content);
    let mut text = format!("{intro}\n");
    let mut html = format!("<!DOCTYPE html>\n<html><body>\n<p>{}</p>\n", escape(&intro));
    if !content.excerpt.is_empty() {
        text.push_str(&format!("\n> {}\n", content.excerpt.replace('\n', "\n> ")));
        html.push_str(&format!(
            "<blockquote>{}</blockquote>\n",
            escape(&content.excerpt).replace('\n', "<br>")
        ));
    }
    if matches!(kind, Kind::Digest | Kind::Report) {
        render_digest(&content.items, &mut text, &mut html);
    }
    text.push_str(&format!("\n-- \n{}\n", footer(lang, unsubscribe.is_some())));
    html.push_str(&format!(
        "<hr>\n<p><small>{}</small></p>\n",
        escape(footer(lang, unsubscribe.is_some()))
    ));
    if let Some(link) = unsubscribe {
        text.push_str(&format!("{}: {link}\n", unsubscribe_label(lang)));
        html.push_str(&format!(
            "<p><small><a href=\"{}\">{}</a></small></p>\n",
            escape(link),
            unsubscribe_label(lang)
        ));
    }
    html.push_str("</body></html>\n");
    Rendered {
        subject,
        text,
        html,
    }
}

/// Lists the items by project, then by input, in the order they came.
fn render_digest(items: &[DigestItem], text: &mut String, html: &mut String) {
    let mut projects: Vec<&str> = Vec::new();
    for item in items {
        if !projects.contains(&item.project.as_str()) {
            projects.push(&item.project);
        }
    }
    for project in projects {
        let in_project: Vec<&DigestItem> = items.iter().filter(|i| i.project == project).collect();
        text.push_str(&format!("\n{project}\n"));
        html.push_str(&format!("<h2>{}</h2>\n", escape(project)));
        let mut inputs: Vec<&str> = Vec::new();
        for item in &in_project {
            if !inputs.contains(&item.input.as_str()) {
                inputs.push(&item.input);
            }
        }
        for input in inputs {
            if !input.is_empty() {
                text.push_str(&format!("  {input}\n"));
                html.push_str(&format!("<h3>{}</h3>\n", escape(input)));
            }
            html.push_str("<ul>\n");
            for item in in_project.iter().filter(|i| i.input == input) {
                text.push_str(&format!("    - {}\n", item.line));
                html.push_str(&format!("<li>{}</li>\n", escape(&item.line)));
            }
            html.push_str("</ul>\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Lang, escape, render};
    use crate::kind::{ALL, Kind};
    use crate::mail::content::{Content, DigestItem};

    #[test]
    fn every_kind_reads_in_every_language() {
        let content = Content {
            project: "Parkstraat".to_owned(),
            input: "Meer bomen".to_owned(),
            status: "accepted".to_owned(),
            code: "123456".to_owned(),
            ..Content::default()
        };
        for kind in ALL {
            for lang in [Lang::Nl, Lang::Fr, Lang::En] {
                let mail = render(kind, lang, &content, None);
                assert!(!mail.subject.is_empty(), "{kind:?} {lang:?}");
                assert!(!mail.subject.contains('{') && !mail.text.contains('{'));
            }
        }
        assert_eq!(Lang::of("fr-BE"), Lang::Fr);
        assert_eq!(Lang::of("de"), Lang::En);
    }

    #[test]
    fn what_people_wrote_is_never_markup() {
        let content = Content {
            input: "<script>alert(1)</script>".to_owned(),
            excerpt: "a & b <img src=x onerror=y>".to_owned(),
            ..Content::default()
        };
        let mail = render(
            Kind::CommentOnYourInput,
            Lang::En,
            &content,
            Some("https://x/u?t=\"1\""),
        );
        assert!(!mail.html.contains("<script>"));
        assert!(!mail.html.contains("<img"));
        assert!(mail.html.contains("&lt;script&gt;"));
        assert!(mail.html.contains("a &amp; b"));
        assert!(mail.html.contains("href=\"https://x/u?t=&quot;1&quot;\""));
        assert!(
            mail.text.contains("<script>"),
            "plain text stays as written"
        );
        assert_eq!(escape("'\""), "&#39;&quot;");
    }

    #[test]
    fn a_digest_groups_by_project_then_input() {
        let item = |project: &str, input: &str, line: &str| DigestItem {
            project: project.to_owned(),
            input: input.to_owned(),
            line: line.to_owned(),
        };
        let content = Content {
            items: vec![
                item("Park", "Bomen", "one"),
                item("Plein", "Bank", "two"),
                item("Park", "Bomen", "three"),
                item("Park", "Licht", "four"),
            ],
            ..Content::default()
        };
        let mail = render(Kind::Digest, Lang::En, &content, Some("https://u"));
        let park = mail.text.find("\nPark\n").expect("the park heading");
        let plein = mail.text.find("\nPlein\n").expect("the plein heading");
        let three = mail.text.find("- three").expect("three");
        assert!(park < three && three < plein, "{}", mail.text);
        assert_eq!(
            mail.text.matches("  Bomen\n").count(),
            1,
            "one heading per input"
        );
        assert_eq!(mail.html.matches("<h2>").count(), 2);
    }
}
