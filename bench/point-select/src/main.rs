//! `point-select URL CONNECTIONS SECONDS MAX_ID`: the physical limit posts-service's
//! `GET /v1/posts/{id}` is measured against.
//!
//! CONNECTIONS tasks share a pool built exactly as posts-service builds its own
//! (`posts_service::db::connect` with the default sizes) and loop on the same
//! `SELECT … FROM posts WHERE id = ?` the service runs (its very column list), for
//! SECONDS. Prints one line:
//! `requests=… errors=… rps=… p50_ms=… p99_ms=…`.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use posts_service::db::{self, PoolSettings};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: point-select MYSQL_URL CONNECTIONS SECONDS MAX_ID");
        std::process::exit(2);
    }
    let (url, connections, seconds, max_id) = (
        args[1].clone(),
        parse(&args[2], "CONNECTIONS"),
        parse(&args[3], "SECONDS"),
        parse(&args[4], "MAX_ID"),
    );
    let defaults = posts_service::Config::new(url.clone(), "unused");
    let pool = db::connect(
        &url,
        PoolSettings {
            min: defaults.db_pool_min,
            max: defaults.db_pool_max,
        },
        None,
    )
    .unwrap_or_else(|err| {
        eprintln!("{err}");
        std::process::exit(2)
    });

    let query: &'static str = format!(
        "SELECT {} FROM posts WHERE id = ?",
        posts_service::db::posts::POST_COLUMNS
    )
    .leak();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers = (0..connections).map(|worker| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_u64;
            let mut id = worker % max_id + 1;
            while Instant::now() < deadline {
                let began = Instant::now();
                let outcome = async {
                    let mut conn = pool.get_conn().await?;
                    conn.exec_first::<mysql_async::Row, _, _>(query, (id,))
                        .await
                }
                .await;
                match outcome {
                    Ok(Some(_)) => latencies.push(began.elapsed()),
                    _ => errors += 1,
                }
                id = id % max_id + 1;
            }
            (latencies, errors)
        })
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers.collect::<Vec<_>>() {
        let (mut worker_latencies, worker_errors) = worker.await.expect("worker panicked");
        latencies.append(&mut worker_latencies);
        errors += worker_errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "requests={} errors={} rps={:.0} p50_ms={:.3} p99_ms={:.3}",
        latencies.len(),
        errors,
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
    );
    let _ = pool.disconnect().await;
}

fn parse(value: &str, name: &str) -> u64 {
    value.parse().unwrap_or_else(|_| {
        eprintln!("{name} must be a whole number, got {value:?}");
        std::process::exit(2)
    })
}
