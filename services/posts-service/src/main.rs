//! `posts-service` serves the API; `posts-service migrate` applies migrations and exits;
//! `posts-service healthcheck` asks the running service's `/readyz` (container health checks).

use std::process::ExitCode;

use posts_service::config::{Config, MigrateConfig};
use posts_service::{db, Application};
use service_runtime::{config, shutdown};

#[tokio::main]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("healthcheck") => service_runtime::healthcheck::main(([127, 0, 0, 1], 8081).into()),
        Some(other) => {
            eprintln!(
                "unknown command {other:?}; usage: posts-service [serve|migrate|healthcheck]"
            );
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let config = Config::from_env().unwrap_or_else(|err| config::exit_with(err));
    let telemetry = config.server.log.init("posts-service");
    let code = match Application::build(config).await {
        Ok(app) => {
            app.run_until_stopped(shutdown::signal()).await;
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "posts-service cannot start");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}

async fn migrate() -> ExitCode {
    let config = MigrateConfig::from_env().unwrap_or_else(|err| config::exit_with(err));
    let telemetry = config.log.init("posts-service");
    // The migration account when one is given (MIGRATION_DATABASE_USER), else the service's.
    let settings = db::PoolSettings { min: 1, max: 2 };
    let pool = match config.migration_url().and_then(|url| {
        let ssl = config.database_ssl()?;
        db::connect(&url, settings, ssl.as_ref())
    }) {
        Ok(pool) => pool,
        Err(err) => config::exit_with(err),
    };
    let outcome = db::migrate(&pool, db::LockScope::Server).await;
    let _ = pool.disconnect().await;
    telemetry.shutdown().await;
    match outcome {
        Ok(()) => {
            tracing::info!("migrations are current");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "migrations failed");
            ExitCode::FAILURE
        }
    }
}
