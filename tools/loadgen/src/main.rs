//! The platform's load generator: scenarios against the real services on
//! this machine, each printing throughput and latency percentiles, and a
//! JSON line per scenario so runs can be compared.
//!
//! `inspraak-loadgen listing [--inputs N] [--requests N]`

mod listing;
mod report;

use std::process::ExitCode;

fn flag(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} takes a number")),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("listing") => {
            let options = match (
                flag(&args, "--inputs", 1_000_000),
                flag(&args, "--requests", 2_000),
            ) {
                (Ok(inputs), Ok(requests)) => listing::Options { inputs, requests },
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("inspraak-loadgen: {e}");
                    return ExitCode::from(2);
                }
            };
            listing::run(&options).await;
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: inspraak-loadgen listing [--inputs N] [--requests N]");
            ExitCode::from(2)
        }
    }
}
