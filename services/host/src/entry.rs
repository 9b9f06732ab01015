//! The `main` of a service binary.

use std::process::ExitCode;

use inspraak_kit::Clock;
use inspraak_kit::config::Env;
use inspraak_kit::telemetry::{Telemetry, TelemetrySettings};
use tokio_util::sync::CancellationToken;

use crate::{Defaults, ServiceApp, ServiceConfig};

/// Reads the configuration from the environment (every bad value reported,
/// exit code 2), starts telemetry and the service, and runs until SIGTERM or
/// SIGINT.
pub async fn run_from_env<A: ServiceApp>(defaults: Defaults) -> ExitCode {
    let env = Env::from_process();
    let mut telemetry_env = env.scoped(&format!("{}_", A::NAME.to_uppercase()));
    let telemetry_settings =
        TelemetrySettings::from_env(&mut telemetry_env, &format!("inspraak-{}", A::NAME));
    // The service's own settings, read with the same prefix rules.
    let app = A::configure(&mut telemetry_env);
    let clock = Clock::from_env(&mut telemetry_env);
    let config = ServiceConfig::from_env(&env, A::NAME, A::DEFAULT_PORT, defaults);
    let (config, telemetry_settings) = match (config, telemetry_env.finish()) {
        (Ok(config), Ok(())) => (config, telemetry_settings),
        (config, telemetry) => {
            eprint!("inspraak-{}: ", A::NAME);
            let mut problems = Vec::new();
            if let Err(errors) = config {
                problems.extend(errors.0);
            }
            if let Err(errors) = telemetry {
                problems.extend(errors.0);
            }
            eprint!("{}", inspraak_kit::config::ConfigErrors(problems));
            return ExitCode::from(2);
        }
    };

    let telemetry = match Telemetry::init(&telemetry_settings) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("inspraak-{}: cannot start telemetry: {error:#}", A::NAME);
            return ExitCode::from(2);
        }
    };
    let code = serve(app, config, clock).await;
    // Flushing blocks; keep it off the runtime's worker threads.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}

async fn serve<A: ServiceApp>(app: A, config: ServiceConfig, clock: Clock) -> ExitCode {
    let shutdown = CancellationToken::new();
    if let Err(error) = inspraak_kit::shutdown::cancel_on_signal(shutdown.clone()) {
        tracing::error!(%error, "cannot install signal handlers");
        return ExitCode::FAILURE;
    }
    let running = match crate::start(app, config, clock, shutdown).await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(service = A::NAME, addr = %running.addr, "started");
    match running.stopped.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            tracing::error!(%error, "stopped with an error");
            ExitCode::FAILURE
        }
        Err(error) => {
            tracing::error!(%error, "crashed");
            ExitCode::FAILURE
        }
    }
}
