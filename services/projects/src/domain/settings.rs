//! Platform settings and the governance charter.

use std::collections::BTreeMap;

use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::projects::v1 as proto;
use serde::{Deserialize, Serialize};

use super::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Weekly,
    Fortnightly,
    Monthly,
    Quarterly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charter {
    pub selection: Text,
    pub autonomy: Text,
    pub report_cadence: Cadence,
    pub report_day: u32,
    pub report_hour: u32,
    pub answer_target_days: u32,
    pub moderation_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    pub primary_color: String,
    pub secondary_color: String,
    pub logo_url: String,
    pub texts: BTreeMap<String, Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub name: Text,
    pub branding: Branding,
    pub locales: Vec<String>,
    pub time_zone: String,
    pub max_active_projects: u32,
    pub charter: Charter,
}

impl Default for Settings {
    /// Until the core team sets its own: Dutch, French and English, Brussels
    /// time, five active projects, a weekly report on Monday at 9, answers
    /// within 14 days, hidden after 5 reports.
    fn default() -> Self {
        let text = |s: &str| Text(BTreeMap::from([("nl".to_owned(), s.to_owned())]));
        Self {
            name: text("Inspraak"),
            branding: Branding {
                primary_color: "#1f4e79".to_owned(),
                secondary_color: "#f2a900".to_owned(),
                logo_url: String::new(),
                texts: BTreeMap::new(),
            },
            locales: vec!["nl".to_owned(), "fr".to_owned(), "en".to_owned()],
            time_zone: "Europe/Brussels".to_owned(),
            max_active_projects: 5,
            charter: Charter {
                selection: Text::default(),
                autonomy: Text::default(),
                report_cadence: Cadence::Weekly,
                report_day: 1,
                report_hour: 9,
                answer_target_days: 14,
                moderation_threshold: 5,
            },
        }
    }
}

fn hex_color(value: &str) -> bool {
    value.len() == 7 && value.starts_with('#') && value[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn locale(value: &str) -> bool {
    let (language, region) = value
        .split_once('-')
        .map_or((value, None), |(l, r)| (l, Some(r)));
    (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.chars().all(|c| c.is_ascii_uppercase()))
}

impl Settings {
    /// Parses settings from the API, reporting every problem at once.
    pub fn from_proto(settings: &proto::PlatformSettings) -> Result<Self, Vec<FieldViolation>> {
        let mut v = Vec::new();
        let mut locales = Vec::new();
        for (i, l) in settings.locales.iter().enumerate() {
            if !locale(l) {
                v.push(FieldViolation::new(
                    format!("settings.locales[{i}]"),
                    "is not a locale such as nl or nl-BE",
                ));
            } else if locales.contains(l) {
                v.push(FieldViolation::new(
                    format!("settings.locales[{i}]"),
                    "is listed twice",
                ));
            } else {
                locales.push(l.clone());
            }
        }
        if settings.locales.is_empty() {
            v.push(FieldViolation::new(
                "settings.locales",
                "at least one locale is required",
            ));
        }
        let name = Text::parse(
            "settings.name",
            settings.name.as_ref(),
            &locales,
            100,
            true,
            &mut v,
        );
        let branding = settings.branding.clone().unwrap_or_default();
        for (field, color) in [
            ("primary_color", &branding.primary_color),
            ("secondary_color", &branding.secondary_color),
        ] {
            if !hex_color(color) {
                v.push(FieldViolation::new(
                    format!("settings.branding.{field}"),
                    "must be a colour written #rrggbb",
                ));
            }
        }
        let logo_ok = branding.logo_url.is_empty()
            || (branding.logo_url.starts_with("https://") && branding.logo_url.len() <= 2000);
        if !logo_ok {
            v.push(FieldViolation::new(
                "settings.branding.logo_url",
                "must be an https:// URL",
            ));
        }
        let mut texts = BTreeMap::new();
        for (key, text) in &branding.texts {
            let field = format!("settings.branding.texts[{key}]");
            texts.insert(
                key.clone(),
                Text::parse(&field, Some(text), &locales, 5000, true, &mut v),
            );
        }
        if settings.time_zone.parse::<chrono_tz::Tz>().is_err() {
            v.push(FieldViolation::new(
                "settings.time_zone",
                "is not an IANA time zone such as Europe/Brussels",
            ));
        }
        if !(1..=100).contains(&settings.max_active_projects) {
            v.push(FieldViolation::new(
                "settings.max_active_projects",
                "must be between 1 and 100",
            ));
        }
        let charter = settings.charter.clone().unwrap_or_default();
        let cadence = match proto::ReportCadence::try_from(charter.report_cadence) {
            Ok(proto::ReportCadence::Weekly) => Some(Cadence::Weekly),
            Ok(proto::ReportCadence::Fortnightly) => Some(Cadence::Fortnightly),
            Ok(proto::ReportCadence::Monthly) => Some(Cadence::Monthly),
            Ok(proto::ReportCadence::Quarterly) => Some(Cadence::Quarterly),
            _ => {
                v.push(FieldViolation::new(
                    "settings.charter.report_cadence",
                    "must be weekly, fortnightly, monthly or quarterly",
                ));
                None
            }
        };
        let day_range = match cadence {
            Some(Cadence::Weekly | Cadence::Fortnightly) => 1..=7,
            _ => 1..=28,
        };
        if !day_range.contains(&charter.report_day) {
            v.push(FieldViolation::new(
                "settings.charter.report_day",
                format!(
                    "must be between {} and {}",
                    day_range.start(),
                    day_range.end()
                ),
            ));
        }
        if charter.report_hour > 23 {
            v.push(FieldViolation::new(
                "settings.charter.report_hour",
                "must be between 0 and 23",
            ));
        }
        if !(1..=365).contains(&charter.answer_target_days) {
            v.push(FieldViolation::new(
                "settings.charter.answer_target_days",
                "must be between 1 and 365",
            ));
        }
        if !(1..=1000).contains(&charter.moderation_threshold) {
            v.push(FieldViolation::new(
                "settings.charter.moderation_threshold",
                "must be between 1 and 1000",
            ));
        }
        let selection = Text::parse(
            "settings.charter.selection",
            charter.selection.as_ref(),
            &locales,
            10_000,
            false,
            &mut v,
        );
        let autonomy = Text::parse(
            "settings.charter.autonomy",
            charter.autonomy.as_ref(),
            &locales,
            10_000,
            false,
            &mut v,
        );
        if !v.is_empty() {
            return Err(v);
        }
        Ok(Self {
            name,
            branding: Branding {
                primary_color: branding.primary_color.to_lowercase(),
                secondary_color: branding.secondary_color.to_lowercase(),
                logo_url: branding.logo_url,
                texts,
            },
            locales,
            time_zone: settings.time_zone.clone(),
            max_active_projects: settings.max_active_projects,
            charter: Charter {
                selection,
                autonomy,
                report_cadence: cadence.unwrap_or(Cadence::Weekly),
                report_day: charter.report_day,
                report_hour: charter.report_hour,
                answer_target_days: charter.answer_target_days,
                moderation_threshold: charter.moderation_threshold,
            },
        })
    }

    pub fn to_proto(&self) -> proto::PlatformSettings {
        proto::PlatformSettings {
            name: Some(self.name.to_proto()),
            branding: Some(self.branding_proto()),
            locales: self.locales.clone(),
            time_zone: self.time_zone.clone(),
            max_active_projects: self.max_active_projects,
            charter: Some(proto::GovernanceCharter {
                selection: Some(self.charter.selection.to_proto()),
                autonomy: Some(self.charter.autonomy.to_proto()),
                report_cadence: match self.charter.report_cadence {
                    Cadence::Weekly => proto::ReportCadence::Weekly,
                    Cadence::Fortnightly => proto::ReportCadence::Fortnightly,
                    Cadence::Monthly => proto::ReportCadence::Monthly,
                    Cadence::Quarterly => proto::ReportCadence::Quarterly,
                } as i32,
                report_day: self.charter.report_day,
                report_hour: self.charter.report_hour,
                answer_target_days: self.charter.answer_target_days,
                moderation_threshold: self.charter.moderation_threshold,
            }),
            version: 0,
            etag: String::new(),
            updated_at: None,
        }
    }

    pub fn branding_proto(&self) -> proto::Branding {
        proto::Branding {
            primary_color: self.branding.primary_color.clone(),
            secondary_color: self.branding.secondary_color.clone(),
            logo_url: self.branding.logo_url.clone(),
            texts: self
                .branding
                .texts
                .iter()
                .map(|(k, t)| (k.clone(), t.to_proto()))
                .collect(),
        }
    }

    /// What residents may see: no charter, no cap.
    pub fn public(&self) -> proto::PublicSettings {
        proto::PublicSettings {
            name: Some(self.name.to_proto()),
            branding: Some(self.branding_proto()),
            locales: self.locales.clone(),
            time_zone: self.time_zone.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_round_trip() {
        let settings = Settings::default();
        assert_eq!(
            Settings::from_proto(&settings.to_proto()).unwrap(),
            settings
        );
    }

    #[test]
    fn each_bad_value_is_named() {
        let mut bad = Settings::default().to_proto();
        bad.branding.as_mut().unwrap().primary_color = "blue".to_owned();
        bad.time_zone = "Mars/Olympus".to_owned();
        bad.max_active_projects = 0;
        bad.charter.as_mut().unwrap().report_hour = 24;
        let fields: Vec<String> = Settings::from_proto(&bad)
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "settings.branding.primary_color",
                "settings.time_zone",
                "settings.max_active_projects",
                "settings.charter.report_hour"
            ]
        );
    }
}
