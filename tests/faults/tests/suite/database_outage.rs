//! The database blackholed (the proxy holds every byte) or frozen (`docker pause`):
//! posts-service answers every request within 2 s, with a 503 and `Retry-After`, and
//! the same process serves again within 1 s of the fault ending. And posts-service
//! started while its database is down: it answers `/healthz` at once and turns ready
//! within about a second of the database coming back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fault_proxy::{Fault, FaultProxy};
use fault_suite::database;
use fault_suite::measure::{figure, ms, within, Latencies};
use fault_suite::{tls, Scenario, Service};
use reqwest::StatusCode;
use test_mariadb::harness::Db;

use crate::blog::{id_of, posts_behind_proxy, Api, Problems, START_LIMIT};

/// The promise: a request costs at most this long while the database does not answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// The promise: serving again this soon after the fault ends.
const RECOVER_WITHIN: Duration = Duration::from_secs(1);
/// How long the fault lasts while clients keep asking.
const OUTAGE: Duration = Duration::from_secs(4);
const CLIENTS: usize = 4;

/// What clients saw while the database was away.
struct Observed {
    latencies: Latencies,
    statuses: Vec<String>,
    without_retry_after: usize,
}

/// Reads, lists and creates from `CLIENTS` tasks for `OUTAGE`.
async fn ask_throughout_the_outage(api: &Api, id: u64) -> Observed {
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|task| {
            let api = api.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let mut seen = Vec::new();
                let mut round = task;
                while started.elapsed() < OUTAGE {
                    round += 1;
                    let asked = Instant::now();
                    let answer = match round % 3 {
                        0 => api.get(id).await,
                        1 => {
                            api.client
                                .get(format!("{}/v1/posts", api.base))
                                .send()
                                .await
                        }
                        _ => api.create("during the outage", "x").await,
                    };
                    let took = asked.elapsed();
                    seen.push(match answer {
                        Ok(response) => (
                            response.status().to_string(),
                            response.headers().contains_key("retry-after"),
                            took,
                        ),
                        Err(err) => (format!("no answer ({err})"), false, took),
                    });
                }
                seen
            })
        })
        .collect();
    let mut observed = Observed {
        latencies: Latencies::default(),
        statuses: Vec::new(),
        without_retry_after: 0,
    };
    for task in tasks {
        for (status, retry_after, took) in task.await.expect("a client task") {
            observed.latencies.push(took);
            if status.starts_with("503") && !retry_after {
                observed.without_retry_after += 1;
            }
            observed.statuses.push(status);
        }
    }
    observed
}

/// How long after now posts-service serves a read of `id` again.
async fn recovery(api: &Api, id: u64) -> Option<Duration> {
    within(
        Duration::from_secs(10),
        Duration::from_millis(10),
        || async {
            matches!(api.get(id).await, Ok(response) if response.status() == StatusCode::OK)
        },
    )
    .await
}

fn judge(
    scenario: &Scenario,
    what: &str,
    observed: &Observed,
    recovered: Option<Duration>,
    posts: &mut Service,
    pid: u32,
) -> Problems {
    let not_503: Vec<&String> = observed
        .statuses
        .iter()
        .filter(|status| !status.starts_with("503"))
        .collect();
    figure(
        scenario.name(),
        format!(
            "{what}: {} requests in {} s, {} of them 503; latency {}; serving again {} after the fault ended; same process: {}",
            observed.statuses.len(),
            OUTAGE.as_secs(),
            observed.statuses.len() - not_503.len(),
            observed.latencies.summary(),
            recovered.map_or("never (10 s)".to_owned(), ms),
            posts.is_running() && posts.pid() == pid,
        ),
    );
    let mut problems = Problems::default();
    problems.check(not_503.is_empty(), || {
        format!("answers other than 503 during the outage: {not_503:?}")
    });
    problems.check(observed.without_retry_after == 0, || {
        format!(
            "{} of the 503s had no Retry-After",
            observed.without_retry_after
        )
    });
    problems.check(observed.latencies.max() <= ANSWER_WITHIN, || {
        format!(
            "slowest answer took {}, more than {ANSWER_WITHIN:?}",
            ms(observed.latencies.max())
        )
    });
    problems.check(recovered.is_some_and(|took| took <= RECOVER_WITHIN), || {
        format!("serving again took {recovered:?}, more than {RECOVER_WITHIN:?}")
    });
    problems.check(posts.is_running() && posts.pid() == pid, || {
        format!("posts-service did not stay up:\n{}", posts.log_tail())
    });
    problems
}

pub async fn blackholed_database_gives_503_within_2_s_and_recovers_within_1_s(db: Db) {
    let scenario = Scenario::new("database-blackholed");
    let (proxy, mut posts) = posts_behind_proxy(&scenario, &db, &[]).await;
    let pid = posts.pid();
    let api = Api::new(&posts.url, Duration::from_secs(10));
    let id = id_of(&api.create_ok("before the blackhole", "x").await);

    proxy.set_fault(Fault::Blackhole { close_after: None });
    let observed = ask_throughout_the_outage(&api, id).await;
    proxy.clear();
    let recovered = recovery(&api, id).await;

    let problems = judge(
        &scenario,
        "database blackholed",
        &observed,
        recovered,
        &mut posts,
        pid,
    );
    problems.assert_none(&scenario);
}

pub async fn frozen_database_gives_503_within_2_s_and_recovers_within_1_s(_shared: Db) {
    let scenario = Scenario::new("database-frozen");
    // Its own server: this one gets frozen.
    let db = tls::start_database().await;
    let container = db.container_id().to_owned();
    let mut posts = scenario.posts_service(&db.fresh_database().await, &[]);
    posts.wait_for("/readyz", StatusCode::OK, START_LIMIT).await;
    let pid = posts.pid();
    let api = Api::new(&posts.url, Duration::from_secs(10));
    let id = id_of(&api.create_ok("before the freeze", "x").await);

    database::pause(&container).await;
    let observed = ask_throughout_the_outage(&api, id).await;
    database::unpause(&container).await;
    let recovered = recovery(&api, id).await;

    let problems = judge(
        &scenario,
        "database frozen (docker pause)",
        &observed,
        recovered,
        &mut posts,
        pid,
    );
    drop(posts);
    db.remove().await;
    problems.assert_none(&scenario);
}

pub async fn posts_service_starts_without_its_database_and_turns_ready_once_it_is_back(db: Db) {
    let scenario = Scenario::new("start-without-database");
    let url = db.fresh_database().await;
    let server = SocketAddr::from(([127, 0, 0, 1], db.server().await.host_port()));
    let proxy = FaultProxy::start(server).await.expect("a proxy");
    proxy.set_fault(Fault::Down);

    let spawned = Instant::now();
    let mut posts = scenario.posts_service(&database::url_via(&url, proxy.local_addr()), &[]);
    let healthz = posts
        .wait_for("/healthz", StatusCode::OK, Duration::from_secs(10))
        .await;
    let api = Api::new(&posts.url, Duration::from_secs(5));
    let mut problems = Problems::default();
    // Down for a while: it must neither exit nor claim to be ready.
    while spawned.elapsed() < Duration::from_secs(3) {
        let ready = api.client.get(posts.at("/readyz")).send().await;
        let status = ready.map(|response| response.status());
        problems.check(
            matches!(status, Ok(StatusCode::SERVICE_UNAVAILABLE)),
            || format!("/readyz answered {status:?} while the database was down"),
        );
        problems.check(posts.is_running(), || {
            format!(
                "posts-service exited while the database was down:\n{}",
                posts.log_tail()
            )
        });
        if !posts.is_running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    proxy.clear();
    let ready = if posts.is_running() {
        within(
            Duration::from_secs(15),
            Duration::from_millis(10),
            || async {
                matches!(
                    api.client.get(posts.at("/readyz")).send().await,
                    Ok(response) if response.status() == StatusCode::OK
                )
            },
        )
        .await
    } else {
        None
    };
    let created = if ready.is_some() {
        api.create("after the database came", "migrated")
            .await
            .map(|response| response.status())
            .ok()
    } else {
        None
    };
    figure(
        scenario.name(),
        format!(
            "database down at start: /healthz 200 {} after spawn; ready {} after the database came back; first create: {created:?}",
            ms(healthz),
            ready.map_or("never (15 s)".to_owned(), ms)
        ),
    );
    problems.check(healthz <= Duration::from_secs(1), || {
        format!("/healthz took {} to answer", ms(healthz))
    });
    problems.check(
        ready.is_some_and(|took| took <= Duration::from_millis(1500)),
        || format!("ready {ready:?} after the database came back, more than ~1 s"),
    );
    problems.check(created == Some(StatusCode::CREATED), || {
        format!("a create once ready answered {created:?}: the schema was not migrated?")
    });
    problems.assert_none(&scenario);
}
