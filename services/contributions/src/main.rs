//! `inspraak-contributions`: the contributions service on its own, configured from the
//! environment (see the README's configuration table).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    inspraak_host::run_from_env::<inspraak_contributions::ContributionsService>(
        inspraak_host::Defaults::default(),
    )
    .await
}
