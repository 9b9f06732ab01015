//! Compiles every `.proto` under the repository's `proto/` once, and writes the
//! descriptor set that the servers hand to gRPC reflection.

use std::path::PathBuf;

const CONTRACTS: &[&str] = &[
    "inspraak/events/v1/envelope.proto",
    "inspraak/events/v1/identity.proto",
    "inspraak/events/v1/projects.proto",
    "inspraak/events/v1/contributions.proto",
    "inspraak/bus/v1/dead_letters.proto",
    "inspraak/identity/v1/signing_keys.proto",
    "inspraak/identity/v1/identity.proto",
    "inspraak/projects/v1/projects.proto",
    "inspraak/contributions/v1/contributions.proto",
    "inspraak/contributions/v1/feedback.proto",
    "inspraak/contributions/v1/discussion.proto",
    "inspraak/contributions/v1/voting.proto",
    "inspraak/contributions/v1/moderation.proto",
    "inspraak/notifications/v1/notifications.proto",
];

const TESTING: &[&str] = &["inspraak/testing/v1/probe.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut files: Vec<PathBuf> = CONTRACTS.iter().map(|f| root.join(f)).collect();
    if std::env::var_os("CARGO_FEATURE_TESTING").is_some() {
        files.extend(TESTING.iter().map(|f| root.join(f)));
    }
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    // protoc comes from the vendored binary, handed over explicitly: build
    // scripts must not mutate the process environment.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Every message knows its full name, so events travel as typed `Any`s.
    config.enable_type_names();
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("inspraak_descriptor.bin"))
        .compile_with_config(config, &files, &[root])?;
    Ok(())
}
