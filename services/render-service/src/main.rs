//! render-service: read the environment, start logging, serve until SIGTERM.
//! `render-service healthcheck` asks the running service's `/readyz` (container health checks).

use std::process::ExitCode;

use render_service::{Application, Config};
use service_runtime::{config, shutdown};

/// mimalloc rather than glibc's malloc: a crawler fills and evicts the page cache's
/// 10 KB pages, and that churn took 18% of render-service's samples in glibc (BENCHMARKS.md).
/// Built with `no_thp`: with transparent huge pages, each memory block mimalloc took
/// back from the kernel was zeroed as a whole 2 MB page (8% of a crawl's samples).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return service_runtime::healthcheck::main(([127, 0, 0, 1], 8080).into());
    }
    let config = Config::from_env().unwrap_or_else(|err| config::exit_with(err));
    let telemetry = config.server.log.init("render-service");
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "render-service cannot start");
            telemetry.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %app.local_addr(), "render-service listening");
    app.run_until_stopped(shutdown::signal()).await;
    tracing::info!("render-service stopped");
    telemetry.shutdown().await;
    ExitCode::SUCCESS
}
