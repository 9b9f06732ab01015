//! `inspraak settings` and `inspraak registration`: the platform settings
//! (with the governance charter) and the registration policy, kept in a YAML
//! or JSON file; `apply` shows what would change and asks before changing.
//!
//! The files use plain words (`report_cadence: monthly`), not wire enums, so
//! an operator can write them by hand; `show` prints one to start from.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use inspraak_proto::identity::v1 as identity;
use inspraak_proto::projects::v1 as projects;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cli::api::{Api, call};
use crate::cli::failure::{Failure, Result};
use crate::cli::output::Outcome;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The YAML or JSON file (`-` for standard input)
    #[arg(short, long, value_name = "FILE")]
    pub file: PathBuf,
    /// Apply without asking
    #[arg(long)]
    pub yes: bool,
    /// Only show what would change
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum SettingsCommand {
    /// The platform settings as a file to edit
    #[command(after_help = "Example:\n  inspraak settings show > settings.yaml")]
    Show,
    /// Replace the platform settings with a file's, after showing the diff
    #[command(after_help = "\
Examples:
  inspraak settings apply -f settings.yaml
  inspraak settings apply -f settings.yaml --dry-run")]
    Apply(ApplyArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum RegistrationCommand {
    /// The registration policy as a file to edit
    #[command(after_help = "Example:\n  inspraak registration show > registration.yaml")]
    Show,
    /// Replace the registration policy with a file's, after showing the diff
    #[command(after_help = "Example:\n  inspraak registration apply -f registration.yaml --yes")]
    Apply(ApplyArgs),
}

type Texts = BTreeMap<String, String>;

fn texts(text: &Option<projects::LocalizedText>) -> Texts {
    text.as_ref()
        .map(|t| t.text.clone().into_iter().collect())
        .unwrap_or_default()
}

fn localized(texts: &Texts) -> Option<projects::LocalizedText> {
    Some(projects::LocalizedText {
        text: texts.clone().into_iter().collect::<HashMap<_, _>>(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    name: Texts,
    locales: Vec<String>,
    time_zone: String,
    max_active_projects: u32,
    #[serde(default)]
    branding: BrandingFile,
    charter: CharterFile,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrandingFile {
    #[serde(default)]
    primary_color: String,
    #[serde(default)]
    secondary_color: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    texts: BTreeMap<String, Texts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CharterFile {
    #[serde(default)]
    selection: Texts,
    #[serde(default)]
    autonomy: Texts,
    /// weekly, fortnightly, monthly, quarterly
    report_cadence: String,
    report_day: u32,
    report_hour: u32,
    answer_target_days: u32,
    moderation_threshold: u32,
}

const CADENCES: [(&str, projects::ReportCadence); 4] = [
    ("weekly", projects::ReportCadence::Weekly),
    ("fortnightly", projects::ReportCadence::Fortnightly),
    ("monthly", projects::ReportCadence::Monthly),
    ("quarterly", projects::ReportCadence::Quarterly),
];

impl SettingsFile {
    fn from_wire(s: &projects::PlatformSettings) -> Self {
        let branding = s.branding.clone().unwrap_or_default();
        let charter = s.charter.clone().unwrap_or_default();
        Self {
            name: texts(&s.name),
            locales: s.locales.clone(),
            time_zone: s.time_zone.clone(),
            max_active_projects: s.max_active_projects,
            branding: BrandingFile {
                primary_color: branding.primary_color,
                secondary_color: branding.secondary_color,
                logo_url: branding.logo_url,
                texts: branding
                    .texts
                    .iter()
                    .map(|(k, v)| (k.clone(), texts(&Some(v.clone()))))
                    .collect(),
            },
            charter: CharterFile {
                selection: texts(&charter.selection),
                autonomy: texts(&charter.autonomy),
                report_cadence: CADENCES
                    .iter()
                    .find(|(_, c)| *c as i32 == charter.report_cadence)
                    .map(|(name, _)| (*name).to_owned())
                    .unwrap_or_default(),
                report_day: charter.report_day,
                report_hour: charter.report_hour,
                answer_target_days: charter.answer_target_days,
                moderation_threshold: charter.moderation_threshold,
            },
        }
    }

    fn to_wire(&self) -> Result<projects::PlatformSettings> {
        let cadence = CADENCES
            .iter()
            .find(|(name, _)| *name == self.charter.report_cadence)
            .map(|(_, c)| *c as i32)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "charter.report_cadence {:?}: one of weekly, fortnightly, monthly, quarterly",
                    self.charter.report_cadence
                ))
            })?;
        Ok(projects::PlatformSettings {
            name: localized(&self.name),
            branding: Some(projects::Branding {
                primary_color: self.branding.primary_color.clone(),
                secondary_color: self.branding.secondary_color.clone(),
                logo_url: self.branding.logo_url.clone(),
                texts: self
                    .branding
                    .texts
                    .iter()
                    .filter_map(|(k, v)| localized(v).map(|t| (k.clone(), t)))
                    .collect(),
            }),
            locales: self.locales.clone(),
            time_zone: self.time_zone.clone(),
            max_active_projects: self.max_active_projects,
            charter: Some(projects::GovernanceCharter {
                selection: localized(&self.charter.selection),
                autonomy: localized(&self.charter.autonomy),
                report_cadence: cadence,
                report_day: self.charter.report_day,
                report_hour: self.charter.report_hour,
                answer_target_days: self.charter.answer_target_days,
                moderation_threshold: self.charter.moderation_threshold,
            }),
            ..projects::PlatformSettings::default()
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationFile {
    confirmation_required: bool,
    /// read_only or full
    unconfirmed_access: String,
    #[serde(default)]
    staff_email_domains: Vec<String>,
    min_password_length: u32,
    #[serde(default)]
    fields: Vec<FieldFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    key: String,
    label: Texts,
    /// text, number, single_choice, multiple_choice, date
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
}

const FIELD_TYPES: [(&str, identity::FieldType); 5] = [
    ("text", identity::FieldType::Text),
    ("number", identity::FieldType::Number),
    ("single_choice", identity::FieldType::SingleChoice),
    ("multiple_choice", identity::FieldType::MultipleChoice),
    ("date", identity::FieldType::Date),
];

const ACCESS: [(&str, identity::UnconfirmedAccess); 2] = [
    ("read_only", identity::UnconfirmedAccess::ReadOnly),
    ("full", identity::UnconfirmedAccess::Full),
];

impl RegistrationFile {
    fn from_wire(p: &identity::RegistrationPolicy) -> Self {
        Self {
            confirmation_required: p.confirmation_required,
            unconfirmed_access: ACCESS
                .iter()
                .find(|(_, a)| *a as i32 == p.unconfirmed_access)
                .map(|(name, _)| (*name).to_owned())
                .unwrap_or_default(),
            staff_email_domains: p.staff_email_domains.clone(),
            min_password_length: p.min_password_length,
            fields: p
                .fields
                .iter()
                .map(|f| FieldFile {
                    key: f.key.clone(),
                    label: f.label.clone().into_iter().collect(),
                    kind: FIELD_TYPES
                        .iter()
                        .find(|(_, t)| *t as i32 == f.r#type)
                        .map(|(name, _)| (*name).to_owned())
                        .unwrap_or_default(),
                    required: f.required,
                    options: f.options.clone(),
                    // Both 0 means "no bounds" on the wire.
                    min: (f.min != 0.0 || f.max != 0.0).then_some(f.min),
                    max: (f.min != 0.0 || f.max != 0.0).then_some(f.max),
                })
                .collect(),
        }
    }

    fn to_wire(&self) -> Result<identity::RegistrationPolicy> {
        let access = ACCESS
            .iter()
            .find(|(name, _)| *name == self.unconfirmed_access)
            .map(|(_, a)| *a as i32)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "unconfirmed_access {:?}: read_only or full",
                    self.unconfirmed_access
                ))
            })?;
        let mut fields = Vec::new();
        for f in &self.fields {
            let kind = FIELD_TYPES
                .iter()
                .find(|(name, _)| *name == f.kind)
                .map(|(_, t)| *t as i32)
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "fields[{}].type {:?}: one of text, number, single_choice, multiple_choice, date",
                        f.key, f.kind
                    ))
                })?;
            fields.push(identity::RegistrationField {
                key: f.key.clone(),
                label: f.label.clone().into_iter().collect(),
                r#type: kind,
                required: f.required,
                options: f.options.clone(),
                min: f.min.unwrap_or(0.0),
                max: f.max.unwrap_or(0.0),
            });
        }
        Ok(identity::RegistrationPolicy {
            fields,
            confirmation_required: self.confirmation_required,
            unconfirmed_access: access,
            staff_email_domains: self.staff_email_domains.clone(),
            min_password_length: self.min_password_length,
            ..identity::RegistrationPolicy::default()
        })
    }
}

fn read_file<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Failure::usage(format!("reading standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("reading {}: {e}", path.display())))?
    };
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
    } else {
        serde_norway::from_str(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
    }
}

fn yaml<T: Serialize>(value: &T) -> Result<String> {
    serde_norway::to_string(value).map_err(|e| Failure::other(format!("encoding YAML: {e}")))
}

/// A line diff (longest common subsequence): `-` removed, `+` added, two
/// spaces unchanged. Settings files are small; quadratic is fine.
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals first, as people read a change: old line, new line.
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

/// Shows the diff and decides whether to go on: `--yes`, or a "y" from the
/// operator at a terminal. Without a terminal and without `--yes` nothing
/// is changed.
fn confirm(what: &str, changes: &str, args: &ApplyArgs, quiet: bool) -> Result<bool> {
    if !quiet || !args.yes {
        eprint!("{changes}");
    }
    if args.dry_run {
        return Ok(false);
    }
    if args.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "not applied: give --yes to change {what} without a terminal to ask on"
        )));
    }
    eprint!("apply these changes to {what}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("reading the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub async fn platform(api: &mut Api, command: SettingsCommand, quiet: bool) -> Result<Outcome> {
    let current = call!(
        api,
        projects.get_platform_settings(projects::GetPlatformSettingsRequest {}),
        "reading the platform settings"
    )?;
    let current_file = SettingsFile::from_wire(&current);
    match command {
        SettingsCommand::Show => Ok(Outcome::text(
            yaml(&current_file)?.trim_end().to_owned(),
            serde_json::to_value(&current_file).map_err(|e| Failure::other(e.to_string()))?,
        )),
        SettingsCommand::Apply(args) => {
            let wanted: SettingsFile = read_file(&args.file)?;
            let wire = wanted.to_wire()?;
            if wanted == current_file {
                return Ok(Outcome::text(
                    "the platform settings already are as the file says",
                    json!({"changed": false}),
                ));
            }
            let changes = diff(&yaml(&current_file)?, &yaml(&wanted)?);
            if !confirm("the platform settings", &changes, &args, quiet)? {
                return Ok(Outcome::text(
                    "nothing changed",
                    json!({"changed": false, "diff": changes}),
                ));
            }
            let updated = call!(
                api,
                projects.update_platform_settings(projects::UpdatePlatformSettingsRequest {
                    settings: Some(wire),
                    etag: current.etag.clone(),
                }),
                "updating the platform settings"
            )?;
            Ok(Outcome::text(
                format!("platform settings updated (version {})", updated.version),
                json!({"changed": true, "version": updated.version, "diff": changes}),
            ))
        }
    }
}

pub async fn registration(
    api: &mut Api,
    command: RegistrationCommand,
    quiet: bool,
) -> Result<Outcome> {
    let current = call!(
        api,
        identity.get_registration_policy(identity::GetRegistrationPolicyRequest {}),
        "reading the registration policy"
    )?;
    let current_file = RegistrationFile::from_wire(&current);
    match command {
        RegistrationCommand::Show => Ok(Outcome::text(
            yaml(&current_file)?.trim_end().to_owned(),
            serde_json::to_value(&current_file).map_err(|e| Failure::other(e.to_string()))?,
        )),
        RegistrationCommand::Apply(args) => {
            let wanted: RegistrationFile = read_file(&args.file)?;
            let wire = wanted.to_wire()?;
            if wanted == current_file {
                return Ok(Outcome::text(
                    "the registration policy already is as the file says",
                    json!({"changed": false}),
                ));
            }
            let changes = diff(&yaml(&current_file)?, &yaml(&wanted)?);
            if !confirm("the registration policy", &changes, &args, quiet)? {
                return Ok(Outcome::text(
                    "nothing changed",
                    json!({"changed": false, "diff": changes}),
                ));
            }
            let updated = call!(
                api,
                identity.update_registration_policy(identity::UpdateRegistrationPolicyRequest {
                    policy: Some(wire),
                    etag: current.etag.clone(),
                }),
                "updating the registration policy"
            )?;
            Ok(Outcome::text(
                format!("registration policy updated (version {})", updated.version),
                json!({"changed": true, "version": updated.version, "diff": changes}),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_marks_changed_lines_only() {
        let old = "a: 1\nb: 2\nc: 3\n";
        let new = "a: 1\nb: 5\nc: 3\nd: 4\n";
        assert_eq!(diff(old, new), "  a: 1\n- b: 2\n+ b: 5\n  c: 3\n+ d: 4\n");
    }

    #[test]
    fn a_settings_file_round_trips_through_the_wire() {
        let text = "\
name: {en: Demo city, nl: Demostad}
locales: [nl, en]
time_zone: Europe/Brussels
max_active_projects: 5
charter:
  report_cadence: monthly
  report_day: 1
  report_hour: 8
  answer_target_days: 14
  moderation_threshold: 3
";
        let file: SettingsFile = serde_norway::from_str(text).unwrap();
        let wire = file.to_wire().unwrap();
        assert_eq!(SettingsFile::from_wire(&wire), file);
        let bad: SettingsFile = serde_norway::from_str(&text.replace("monthly", "yearly")).unwrap();
        assert!(
            bad.to_wire()
                .unwrap_err()
                .message
                .contains("report_cadence")
        );
    }
}
