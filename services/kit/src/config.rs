//! Configuration from environment variables, validated at start.
//!
//! A service reads all of its variables through one [`Env`], which keeps going
//! after a bad value so that the operator sees every problem at once: one line
//! per bad or missing variable, then a non-zero exit.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// Where variables come from: the process environment, or a fixed map in tests
/// (tests never mutate the process environment).
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: Option<HashMap<String, String>>,
    prefix: String,
    errors: Vec<ConfigError>,
}

/// One bad or missing variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.problem)
    }
}

/// Every problem found while reading the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

impl Env {
    /// Reads from the process environment.
    pub fn from_process() -> Self {
        Self::default()
    }

    /// Reads from the given pairs only (tests, the embedded platform).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            overrides: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            ..Self::default()
        }
    }

    /// Whether `name` is set to a non-empty value (exactly that name, no
    /// scoping).
    pub fn is_set(&self, name: &str) -> bool {
        let value = match &self.overrides {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        value.is_some_and(|v| !v.trim().is_empty())
    }

    /// Adds or replaces one value (only for maps built with [`Env::from_pairs`]
    /// or derived from the process environment by [`Env::with_overrides`]).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.overrides
            .get_or_insert_with(HashMap::new)
            .insert(key.into(), value.into());
    }

    /// The process environment with some values replaced, e.g. the embedded
    /// platform giving each service its own port and database file.
    pub fn with_overrides<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut map: HashMap<String, String> = std::env::vars().collect();
        map.extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        Self {
            overrides: Some(map),
            ..Self::default()
        }
    }

    /// Variables read after this are looked up as `<prefix><NAME>` first and
    /// `<NAME>` second, so `IDENTITY_DATABASE_URL` overrides `DATABASE_URL`
    /// when several services share one environment.
    pub fn scoped(&self, prefix: &str) -> Self {
        Self {
            overrides: self.overrides.clone(),
            prefix: prefix.to_owned(),
            errors: Vec::new(),
        }
    }

    fn lookup(&self, name: &str) -> Option<(String, String)> {
        let get = |key: &str| -> Option<String> {
            match &self.overrides {
                Some(map) => map.get(key).cloned(),
                None => std::env::var(key).ok(),
            }
        };
        if !self.prefix.is_empty() {
            let scoped = format!("{}{name}", self.prefix);
            if let Some(value) = get(&scoped) {
                return Some((scoped, value));
            }
        }
        get(name).map(|value| (name.to_owned(), value))
    }

    fn fail(&mut self, variable: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(ConfigError {
            variable: variable.into(),
            problem: problem.into(),
        });
    }

    /// The raw value, trimmed; empty counts as unset.
    fn raw(&self, name: &str) -> Option<(String, String)> {
        self.lookup(name)
            .map(|(key, value)| (key, value.trim().to_owned()))
            .filter(|(_, value)| !value.is_empty())
    }

    /// A variable that must be set.
    pub fn required<T>(&mut self, name: &str, what: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.raw(name) {
            None => {
                self.fail(self.display_name(name), format!("missing; expected {what}"));
                None
            }
            Some((key, value)) => self.parse(&key, &value, what),
        }
    }

    /// A variable with a default.
    pub fn or<T>(&mut self, name: &str, default: T, what: &str) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.raw(name) {
            None => default,
            Some((key, value)) => self.parse(&key, &value, what).unwrap_or(default),
        }
    }

    /// A variable that may be absent.
    pub fn optional<T>(&mut self, name: &str, what: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let (key, value) = self.raw(name)?;
        self.parse(&key, &value, what)
    }

    /// A secret: never printed, not even in the error line.
    pub fn secret(&mut self, name: &str) -> Option<SecretString> {
        self.raw(name).map(|(_, value)| SecretString::from(value))
    }

    /// A duration written as `250ms`, `30s`, `5m` or `2h`.
    pub fn duration_or(&mut self, name: &str, default: Duration) -> Duration {
        self.or::<HumanDuration>(
            name,
            HumanDuration(default),
            "a duration such as 250ms, 30s, 5m, 2h or 30d",
        )
        .0
    }

    /// A number within bounds (inclusive).
    pub fn bounded_or<T>(&mut self, name: &str, default: T, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + Copy + fmt::Display,
        T::Err: fmt::Display,
    {
        let what = format!("a number from {min} to {max}");
        match self.raw(name) {
            None => default,
            Some((key, value)) => match self.parse::<T>(&key, &value, &what) {
                Some(n) if n >= min && n <= max => n,
                Some(n) => {
                    self.fail(key, format!("{n} is out of range; expected {what}"));
                    default
                }
                None => default,
            },
        }
    }

    /// Records a problem found by the caller's own cross-field checks.
    pub fn reject(&mut self, name: &str, problem: impl Into<String>) {
        let variable = self.display_name(name);
        self.fail(variable, problem);
    }

    fn display_name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}{name} (or {name})", self.prefix)
        }
    }

    fn parse<T>(&mut self, key: &str, value: &str, what: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match value.parse::<T>() {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.fail(key, format!("{value:?} is not {what} ({error})"));
                None
            }
        }
    }

    /// Merges the problems found by a scoped reader into this one.
    pub fn absorb(&mut self, other: Env) {
        self.errors.extend(other.errors);
    }

    /// Ends reading: `Ok` if every variable was valid.
    pub fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// A duration in the human form operators write in environment variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| "a unit is required (ms, s, m, h or d)".to_owned())?;
        let (number, unit) = s.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| "expected a whole number before the unit".to_owned())?;
        let duration = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            other => return Err(format!("unknown unit {other:?}")),
        };
        Ok(Self(duration))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_once_with_its_variable() {
        let mut env = Env::from_pairs([("PORT", "eighty"), ("TIMEOUT", "5 parsecs")]);
        let port: Option<u16> = env.required("PORT", "a TCP port");
        let _timeout = env.duration_or("TIMEOUT", Duration::from_secs(1));
        let url: Option<String> = env.required("DATABASE_URL", "a database URL");
        assert_eq!(port, None);
        assert_eq!(url, None);
        let errors = env.finish().unwrap_err();
        let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].starts_with("PORT: \"eighty\" is not a TCP port"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("TIMEOUT: \"5 parsecs\""), "{lines:?}");
        assert_eq!(lines[2], "DATABASE_URL: missing; expected a database URL");
    }

    #[test]
    fn scoped_names_win_over_shared_ones() {
        let env = Env::from_pairs([("DATABASE_URL", "shared"), ("IDENTITY_DATABASE_URL", "own")]);
        let mut identity = env.scoped("IDENTITY_");
        let mut projects = env.scoped("PROJECTS_");
        assert_eq!(
            identity
                .required::<String>("DATABASE_URL", "url")
                .as_deref(),
            Some("own")
        );
        assert_eq!(
            projects
                .required::<String>("DATABASE_URL", "url")
                .as_deref(),
            Some("shared")
        );
    }

    #[test]
    fn bounds_are_enforced() {
        let mut env = Env::from_pairs([("PREFETCH", "0")]);
        assert_eq!(env.bounded_or("PREFETCH", 50u16, 1, 1000), 50);
        assert_eq!(env.finish().unwrap_err().0[0].variable, "PREFETCH");
    }

    #[test]
    fn durations_parse_in_operator_units() {
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            "5m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(300)
        );
        assert!("5".parse::<HumanDuration>().is_err());
        assert_eq!(
            "30d".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(30 * 86_400)
        );
        assert!("5w".parse::<HumanDuration>().is_err());
    }
}
