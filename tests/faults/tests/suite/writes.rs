//! Acknowledged writes survive `kill -9` of the database: several clients create and
//! update posts while mariadbd is killed and restarted three times, and every write is
//! booked Jepsen-style as ok (2xx), failed (4xx: the service refused it) or unknown (5xx
//! or no answer: it may or may not have committed). At the end every ok write must be
//! there with its content and version; an unknown one may be, or a later unknown update
//! may have replaced it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_proxy::FaultProxy;
use fault_suite::database;
use fault_suite::measure::{figure, ms, within};
use fault_suite::{tls, Scenario};
use reqwest::StatusCode;
use serde_json::Value;
use test_mariadb::harness::Db;

use crate::blog::{id_of, Api, Problems, START_LIMIT};

const CLIENTS: usize = 6;
const KILLS: usize = 3;
/// Writes flow this long before each kill, and after the last recovery.
const LOAD_BETWEEN_KILLS: Duration = Duration::from_millis(1500);

/// The three outcomes of a write.
#[derive(Debug, Default, Clone, Copy)]
struct Outcomes {
    ok: usize,
    failed: usize,
    unknown: usize,
}

impl std::fmt::Display for Outcomes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok={} failed={} unknown={}",
            self.ok, self.failed, self.unknown
        )
    }
}

/// What a client knows of a post it created: the last state it saw committed, and the
/// updates sent since whose fate is unknown.
#[derive(Debug, Clone)]
struct Known {
    id: u64,
    version: u64,
    title: String,
    body: String,
    unknown_updates: Vec<(String, String)>,
}

impl Known {
    /// Whether `post` (as read back) is a state this post may be in.
    fn admits(&self, post: &Value) -> bool {
        let version = post["version"].as_u64().unwrap_or(0);
        let content = (
            post["title"].as_str().unwrap_or_default(),
            post["body"].as_str().unwrap_or_default(),
        );
        if version == self.version {
            return content == (self.title.as_str(), self.body.as_str());
        }
        version > self.version
            && version - self.version <= self.unknown_updates.len() as u64
            && self
                .unknown_updates
                .iter()
                .any(|(title, body)| content == (title.as_str(), body.as_str()))
    }

    fn observe(&mut self, post: &Value) {
        self.version = post["version"].as_u64().unwrap_or(0);
        self.title = post["title"].as_str().unwrap_or_default().to_owned();
        self.body = post["body"].as_str().unwrap_or_default().to_owned();
        self.unknown_updates.clear();
    }
}

/// One client's book of its writes.
#[derive(Debug, Default)]
struct Ledger {
    creates: Outcomes,
    updates: Outcomes,
    posts: Vec<Known>,
    unknown_creates: Vec<String>,
    /// States read back mid-run that no write of ours explains.
    anomalies: Vec<String>,
}

/// The outcome class of an answer (or of no answer).
fn classify(answer: &reqwest::Result<reqwest::Response>) -> Class {
    match answer {
        Ok(response) if response.status().is_success() => Class::Ok,
        Ok(response) if response.status().is_client_error() => Class::Failed,
        _ => Class::Unknown,
    }
}

enum Class {
    Ok,
    Failed,
    Unknown,
}

async fn client(number: usize, api: Api, stop: Arc<AtomicBool>) -> Ledger {
    let mut ledger = Ledger::default();
    let mut sequence = 0usize;
    while !stop.load(Ordering::Relaxed) {
        sequence += 1;
        let title = format!("c{number}-w{sequence}");
        let body = format!(
            "written by client {number} as write {sequence}: {}",
            "~".repeat(sequence % 40)
        );
        let good = if ledger.posts.is_empty() || sequence % 3 == 0 {
            create(&api, &mut ledger, title, body).await
        } else {
            let index = sequence % ledger.posts.len();
            update(&api, &mut ledger, index, title, body).await
        };
        if !good {
            // The database is away: do not spin.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    ledger
}

async fn create(api: &Api, ledger: &mut Ledger, title: String, body: String) -> bool {
    let answer = api.create(&title, &body).await;
    match classify(&answer) {
        Class::Ok => {
            let post: Value = match answer {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            if post["title"] != title.as_str() || post["version"] != 1 {
                ledger
                    .anomalies
                    .push(format!("create {title} answered {post}"));
            }
            ledger.creates.ok += 1;
            ledger.posts.push(Known {
                id: id_of(&post),
                version: 1,
                title,
                body,
                unknown_updates: Vec::new(),
            });
            true
        }
        Class::Failed => {
            ledger.creates.failed += 1;
            false
        }
        Class::Unknown => {
            ledger.creates.unknown += 1;
            ledger.unknown_creates.push(title);
            false
        }
    }
}

async fn update(api: &Api, ledger: &mut Ledger, index: usize, title: String, body: String) -> bool {
    let known = &mut ledger.posts[index];
    if !known.unknown_updates.is_empty() {
        // Learn what the unknown updates did before sending another.
        let Ok(response) = api.get(known.id).await else {
            return false;
        };
        if response.status() != StatusCode::OK {
            if response.status() == StatusCode::NOT_FOUND {
                ledger
                    .anomalies
                    .push(format!("post {} (acknowledged) read back as 404", known.id));
            }
            return false;
        }
        let post: Value = response.json().await.unwrap_or(Value::Null);
        if !known.admits(&post) {
            ledger.anomalies.push(format!(
                "post {} read back as {post}, known {known:?}",
                known.id
            ));
        }
        known.observe(&post);
    }
    let answer = api.update(known.id, known.version, &title, &body).await;
    match classify(&answer) {
        Class::Ok => {
            let post: Value = match answer {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            if post["version"].as_u64() != Some(known.version + 1)
                || post["title"] != title.as_str()
            {
                ledger.anomalies.push(format!(
                    "update of {} at {} answered {post}",
                    known.id, known.version
                ));
            }
            ledger.updates.ok += 1;
            known.observe(&post);
            true
        }
        Class::Failed => {
            ledger.updates.failed += 1;
            false
        }
        Class::Unknown => {
            ledger.updates.unknown += 1;
            known.unknown_updates.push((title, body));
            false
        }
    }
}

pub async fn acknowledged_writes_survive_three_kill_9_of_the_database(_shared: Db) {
    let scenario = Scenario::new("acknowledged-writes");
    // Its own server: this one gets killed.
    let db = tls::start_database().await;
    let container = db.container_id().to_owned();
    let url = db.fresh_database().await;
    let proxy = FaultProxy::start(database::host_addr(&container).await)
        .await
        .expect("a proxy");
    let mut posts = scenario.posts_service(&database::url_via(&url, proxy.local_addr()), &[]);
    posts.wait_for("/readyz", StatusCode::OK, START_LIMIT).await;
    let pid = posts.pid();
    let api = Api::new(&posts.url, Duration::from_secs(5));

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| tokio::spawn(client(number, api.clone(), Arc::clone(&stop))))
        .collect();
    let mut cycles = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(LOAD_BETWEEN_KILLS).await;
        database::kill(&container, "KILL").await;
        let killed = Instant::now();
        database::wait_stopped(&container).await;
        database::start(&container).await;
        let addr = database::host_addr(&container).await;
        proxy.set_upstream(addr);
        database::wait_until_accepting(addr, Duration::from_secs(90)).await;
        let back = killed.elapsed();
        let serving = within(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { api.all_posts().await.is_some() },
        )
        .await
        .unwrap_or_else(|| panic!("posts-service did not serve again:\n{}", posts.log_tail()));
        cycles.push(format!(
            "database back after {}, posts-service serving {} later (host port {})",
            ms(back),
            ms(serving),
            addr.port()
        ));
    }
    tokio::time::sleep(LOAD_BETWEEN_KILLS).await;
    stop.store(true, Ordering::Relaxed);
    let mut ledgers = Vec::new();
    for client in clients {
        ledgers.push(client.await.expect("a client task"));
    }

    let stored = api
        .all_posts()
        .await
        .expect("posts-service lists every post");
    let by_id: HashMap<u64, &Value> = stored.iter().map(|post| (id_of(post), post)).collect();
    let mut creates = Outcomes::default();
    let mut updates = Outcomes::default();
    let mut lost = Vec::new();
    let mut anomalies = Vec::new();
    let mut unknown_found = 0;
    let mut issued = std::collections::HashSet::new();
    for ledger in &ledgers {
        creates.ok += ledger.creates.ok;
        creates.failed += ledger.creates.failed;
        creates.unknown += ledger.creates.unknown;
        updates.ok += ledger.updates.ok;
        updates.failed += ledger.updates.failed;
        updates.unknown += ledger.updates.unknown;
        anomalies.extend(ledger.anomalies.iter().cloned());
        for known in &ledger.posts {
            issued.insert(known.id);
            match by_id.get(&known.id) {
                Some(post) if known.admits(post) => {}
                Some(post) => lost.push(format!("post {} is {post}, known {known:?}", known.id)),
                None => lost.push(format!("post {} is gone, known {known:?}", known.id)),
            }
        }
        unknown_found += ledger
            .unknown_creates
            .iter()
            .filter(|title| stored.iter().any(|post| post["title"] == title.as_str()))
            .count();
    }
    let unexplained: Vec<_> = stored
        .iter()
        .filter(|post| {
            !issued.contains(&id_of(post))
                && !ledgers.iter().any(|ledger| {
                    ledger
                        .unknown_creates
                        .iter()
                        .any(|title| post["title"] == title.as_str())
                })
        })
        .map(|post| post["title"].to_string())
        .collect();

    for (cycle, text) in cycles.iter().enumerate() {
        figure(
            "acknowledged writes",
            format!("kill -9 #{}: {text}", cycle + 1),
        );
    }
    figure(
        "acknowledged writes",
        format!(
            "{KILLS} kill -9 of mariadbd under {CLIENTS} clients: creates {creates} \
             ({unknown_found} of the unknown committed), updates {updates}; \
             lost acknowledged writes: {}; {} posts stored",
            lost.len(),
            stored.len()
        ),
    );

    let mut problems = Problems::default();
    problems.check(lost.is_empty(), || {
        format!("acknowledged writes lost: {lost:#?}")
    });
    problems.check(anomalies.is_empty(), || {
        format!("states no write explains: {anomalies:#?}")
    });
    problems.check(unexplained.is_empty(), || {
        format!("posts nobody wrote: {unexplained:?}")
    });
    problems.check(creates.ok >= 100 && updates.ok >= 100, || {
        format!(
            "too few acknowledged writes to mean anything: creates {creates}, updates {updates}"
        )
    });
    problems.check(
        creates.failed + creates.unknown + updates.failed + updates.unknown > 0,
        || "no write failed: the kills did not hit the load".to_owned(),
    );
    problems.check(posts.is_running() && posts.pid() == pid, || {
        "posts-service did not survive the outages as the same process".to_owned()
    });
    drop(posts);
    db.remove().await;
    problems.assert_none(&scenario);
}
