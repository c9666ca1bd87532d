//! Several database nodes (a MariaDB Galera Cluster): a pool per node, one writer.
//!
//! `DATABASE_URLS` lists the nodes. Every statement goes to one node, the **writer**: the
//! first node in the list that is synced with its cluster (`wsrep_ready` ON and
//! `wsrep_local_state` 4), so that every replica of the service picks the same one and
//! write conflicts between nodes (ERROR 1213 at commit) stay rare. A background task per
//! node ([`Nodes::spawn_monitor`]) asks each node for that state every
//! [`PROBE_EVERY`]; an operation that fails on the writer for want of a database
//! (connection refused or lost, ERROR 1047 "not in the primary component", a timeout)
//! reports it ([`Nodes::writer_failed`]) and the next request already goes to another
//! node: that node is left alone for [`COOL_DOWN`] unless it proves synced again.
//!
//! Connections run with `wsrep_sync_wait = 1`: a read waits until the node has applied
//! every write the cluster committed before it, so after a change of writer the admin
//! still reads their own writes.
//!
//! With one URL (`DATABASE_URL` alone, as before) there is one node, no monitor, no
//! session setting: the service behaves exactly as it did.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, Pool};
use service_runtime::config::ConfigError;

/// How often the monitor asks each node for its state.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one probe may take before the node counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a node that failed an operation is avoided, unless a probe finds it synced.
pub const COOL_DOWN: Duration = Duration::from_secs(3);

/// What the monitor last learnt about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not probed yet.
    Unknown,
    /// Part of the primary component and synced (or a server without Galera).
    Synced,
    /// Answers, but is not synced (joining, donor, or without quorum).
    NotSynced,
    /// Did not answer.
    Unreachable,
}

/// The nodes of `DATABASE_URLS`: a comma-separated list of `mysql://` URLs, each checked
/// without ever quoting it (they hold a password). At least one; no node twice.
pub fn parse_database_urls(list: &str) -> Result<Vec<String>, ConfigError> {
    let urls: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(ConfigError::invalid(
            "DATABASE_URLS",
            "lists no mysql:// URL (comma-separated)",
        ));
    }
    let mut labels = Vec::with_capacity(urls.len());
    for url in &urls {
        let opts = Opts::from_url(url).map_err(|_| {
            ConfigError::invalid(
                "DATABASE_URLS",
                "has an entry that is not a valid mysql://user:password@host:port/database URL",
            )
        })?;
        let label = label_of(&opts);
        if labels.contains(&label) {
            return Err(ConfigError::invalid(
                "DATABASE_URLS",
                "lists the same host and port twice",
            ));
        }
        labels.push(label);
    }
    Ok(urls)
}

/// `host:port` of a node: how logs, `/readyz` and metrics name it (no credentials).
pub fn label_of(opts: &Opts) -> String {
    format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port())
}

/// The writer, given each node's health and whether it is cooling down after a failure,
/// and the current writer: the first synced node not cooling down; else the current one
/// if nothing speaks against it; else the first node that is not known to be down; else
/// the next one in turn.
pub fn choose_writer(nodes: &[(Health, bool)], current: usize) -> usize {
    let usable = |(health, cooling): &(Health, bool)| !cooling && *health != Health::Unreachable;
    if let Some(first) = nodes
        .iter()
        .position(|(health, cooling)| *health == Health::Synced && !cooling)
    {
        return first;
    }
    if nodes
        .get(current)
        .is_some_and(|node| usable(node) && node.0 != Health::NotSynced)
    {
        return current;
    }
    if let Some(first) = nodes
        .iter()
        .position(|node| usable(node) && node.0 == Health::Unknown)
    {
        return first;
    }
    if let Some(first) = nodes.iter().position(|(_, cooling)| !cooling) {
        return first;
    }
    (current + 1) % nodes.len().max(1)
}

struct NodeState {
    health: Health,
    failed_at: Option<Instant>,
}

/// One node: its name and its pool.
pub struct Node {
    /// `host:port`.
    pub label: String,
    /// Connections to it.
    pub pool: Pool,
}

/// The nodes, their last known health, and the writer.
pub struct Nodes {
    nodes: Vec<Node>,
    state: Mutex<Vec<NodeState>>,
    writer: AtomicUsize,
    writer_changes: AtomicU64,
}

/// A node as `/readyz` and the metrics show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// `host:port`.
    pub label: String,
    /// Last known health.
    pub health: Health,
    /// Whether it is the writer.
    pub writer: bool,
}

impl Nodes {
    /// The nodes, in the order of `DATABASE_URLS`; the first one writes until the monitor
    /// knows better.
    pub fn new(nodes: Vec<Node>) -> Nodes {
        assert!(!nodes.is_empty(), "at least one database node");
        let state = nodes
            .iter()
            .map(|_| NodeState {
                health: Health::Unknown,
                failed_at: None,
            })
            .collect();
        Nodes {
            nodes,
            state: Mutex::new(state),
            writer: AtomicUsize::new(0),
            writer_changes: AtomicU64::new(0),
        }
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there is more than one node (Galera mode).
    pub fn is_cluster(&self) -> bool {
        self.nodes.len() > 1
    }

    /// Never: there is at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The writer's index.
    pub fn writer_index(&self) -> usize {
        self.writer.load(Ordering::Acquire)
    }

    /// The writer's pool: where every statement goes.
    pub fn writer(&self) -> &Node {
        &self.nodes[self.writer_index()]
    }

    /// Every node (to close their pools at shutdown).
    pub fn all(&self) -> &[Node] {
        &self.nodes
    }

    /// How many times the writer changed since start.
    pub fn writer_changes(&self) -> u64 {
        self.writer_changes.load(Ordering::Relaxed)
    }

    /// Each node's last known state.
    pub fn views(&self) -> Vec<NodeView> {
        let writer = self.writer_index();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.nodes
            .iter()
            .zip(state.iter())
            .enumerate()
            .map(|(i, (node, s))| NodeView {
                label: node.label.clone(),
                health: s.health,
                writer: i == writer,
            })
            .collect()
    }

    /// How many nodes the last probes found synced.
    pub fn synced(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.iter().filter(|s| s.health == Health::Synced).count()
    }

    /// An operation on node `index` (the writer when it began) failed for want of a
    /// database: avoid that node for a while and pick another writer at once.
    pub fn writer_failed(&self, index: usize) {
        if !self.is_cluster() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = state.get_mut(index) {
            node.failed_at = Some(Instant::now());
            if node.health == Health::Synced {
                node.health = Health::Unknown;
            }
        }
        self.rechoose(&state);
    }

    fn record(&self, index: usize, health: Health) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = state.get_mut(index) {
            node.health = health;
            if health == Health::Synced {
                node.failed_at = None;
            }
        }
        self.rechoose(&state);
    }

    fn rechoose(&self, state: &[NodeState]) {
        let now = Instant::now();
        let views: Vec<(Health, bool)> = state
            .iter()
            .map(|s| {
                let cooling = s
                    .failed_at
                    .is_some_and(|at| now.duration_since(at) < COOL_DOWN);
                (s.health, cooling)
            })
            .collect();
        let current = self.writer_index();
        let next = choose_writer(&views, current);
        if next != current {
            self.writer.store(next, Ordering::Release);
            self.writer_changes.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                from = %self.nodes[current].label,
                to = %self.nodes[next].label,
                "database writer changed"
            );
        }
    }

    /// Starts one task per node that probes it every [`PROBE_EVERY`] (only with more
    /// than one node). The tasks end when the returned handles are aborted.
    pub fn spawn_monitor(self: &std::sync::Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        if !self.is_cluster() {
            return Vec::new();
        }
        (0..self.nodes.len())
            .map(|index| {
                let nodes = std::sync::Arc::clone(self);
                tokio::spawn(async move {
                    loop {
                        let health = probe(&nodes.nodes[index].pool).await;
                        nodes.record(index, health);
                        tokio::time::sleep(PROBE_EVERY).await;
                    }
                })
            })
            .collect()
    }
}

/// One node's health: synced when Galera says so, or when the server runs without it.
pub async fn probe(pool: &Pool) -> Health {
    let ask = async {
        let mut conn = pool.get_conn().await?;
        let row: Option<(i64, Option<String>, Option<String>)> = conn
            .query_first(
                "SELECT @@wsrep_on, \
                 (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                   WHERE VARIABLE_NAME = 'WSREP_READY'), \
                 (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                   WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE')",
            )
            .await?;
        Ok::<_, mysql_async::Error>(row)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, ask).await {
        Ok(Ok(Some((wsrep_on, ready, local_state)))) => health_of(wsrep_on, ready, local_state),
        Ok(Ok(None)) => Health::NotSynced,
        Ok(Err(mysql_async::Error::Server(_))) => Health::NotSynced,
        Ok(Err(_)) | Err(_) => Health::Unreachable,
    }
}

/// Health from `@@wsrep_on`, `wsrep_ready` and `wsrep_local_state`.
pub fn health_of(wsrep_on: i64, ready: Option<String>, local_state: Option<String>) -> Health {
    if wsrep_on == 0 {
        return Health::Synced;
    }
    let ready = ready.is_some_and(|r| r.eq_ignore_ascii_case("ON"));
    if ready && local_state.as_deref() == Some("4") {
        Health::Synced
    } else {
        Health::NotSynced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Health::*;

    #[test]
    fn the_list_is_comma_separated_and_checked_without_quoting_it() {
        let urls = parse_database_urls(
            " mysql://u:secret@db-1:3306/blog, mysql://u:secret@db-2:3306/blog,,\n mysql://u:secret@db-3/blog ",
        )
        .unwrap();
        assert_eq!(urls.len(), 3);
        assert_eq!(urls[2], "mysql://u:secret@db-3/blog");

        for bad in ["", " , ", "mysql://u:secret@db-1/blog, not a url"] {
            let err = parse_database_urls(bad).unwrap_err().to_string();
            assert!(err.contains("DATABASE_URLS"), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
        let err = parse_database_urls("mysql://u:secret@db-1/blog,mysql://v:other@db-1:3306/blog")
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn nodes_are_named_by_host_and_port_only() {
        let opts = Opts::from_url("mysql://u:secret@db-2:3307/blog").unwrap();
        assert_eq!(label_of(&opts), "db-2:3307");
    }

    #[test]
    fn the_first_synced_node_writes() {
        assert_eq!(choose_writer(&[(Synced, false), (Synced, false)], 1), 0);
        assert_eq!(
            choose_writer(&[(NotSynced, false), (Synced, false), (Synced, false)], 0),
            1
        );
        assert_eq!(
            choose_writer(
                &[(Unreachable, false), (Unknown, false), (Synced, false)],
                0
            ),
            2
        );
    }

    #[test]
    fn a_node_that_just_failed_is_avoided_even_when_it_looked_synced() {
        assert_eq!(
            choose_writer(&[(Synced, true), (Synced, false), (Synced, false)], 0),
            1
        );
        assert_eq!(
            choose_writer(&[(Unknown, true), (Unknown, false), (Unknown, false)], 0),
            1
        );
    }

    #[test]
    fn without_news_the_writer_stays_and_with_nothing_left_it_moves_on() {
        // before the first probe
        assert_eq!(choose_writer(&[(Unknown, false); 3], 0), 0);
        // nothing synced (no quorum anywhere): keep the current one if it answers
        assert_eq!(
            choose_writer(
                &[(Unknown, false), (NotSynced, false), (NotSynced, false)],
                0
            ),
            0
        );
        assert_eq!(
            choose_writer(&[(NotSynced, false), (NotSynced, false)], 1),
            0
        );
        // every node failed lately: try the next one in turn
        assert_eq!(choose_writer(&[(Unreachable, true); 3], 2), 0);
        assert_eq!(choose_writer(&[(Unreachable, true); 3], 0), 1);
    }

    #[test]
    fn galera_status_means_synced_only_when_ready_and_in_state_4() {
        assert_eq!(health_of(1, Some("ON".into()), Some("4".into())), Synced);
        assert_eq!(
            health_of(1, Some("OFF".into()), Some("4".into())),
            NotSynced
        );
        assert_eq!(health_of(1, Some("ON".into()), Some("2".into())), NotSynced);
        assert_eq!(health_of(1, None, None), NotSynced);
        assert_eq!(health_of(0, None, None), Synced, "a server without Galera");
    }

    fn nodes(n: usize) -> Nodes {
        Nodes::new(
            (0..n)
                .map(|i| {
                    let url = format!("mysql://u:p@127.0.0.1:{}/blog", 9 + i);
                    Node {
                        label: format!("127.0.0.1:{}", 9 + i),
                        pool: Pool::new(url.as_str()),
                    }
                })
                .collect(),
        )
    }

    #[tokio::test]
    async fn a_failure_on_the_writer_moves_the_writes_at_once_and_a_synced_node_gets_them_back() {
        let nodes = nodes(3);
        assert_eq!(nodes.writer_index(), 0);
        nodes.writer_failed(0);
        assert_eq!(nodes.writer_index(), 1);
        assert_eq!(nodes.writer_changes(), 1);
        // a stale report about the old writer changes nothing more
        nodes.writer_failed(0);
        assert_eq!(nodes.writer_index(), 1);
        nodes.record(2, Synced);
        assert_eq!(
            nodes.writer_index(),
            2,
            "the first synced node that is not cooling down"
        );
        nodes.record(0, Synced);
        assert_eq!(
            nodes.writer_index(),
            0,
            "back to the first node once it is synced"
        );
        assert_eq!(nodes.synced(), 2);
        let views = nodes.views();
        assert!(views[0].writer && !views[2].writer);
        assert_eq!(views[1].health, Unknown);
    }

    #[tokio::test]
    async fn one_node_never_fails_over() {
        let nodes = nodes(1);
        nodes.writer_failed(0);
        assert_eq!(nodes.writer_index(), 0);
        assert!(nodes.spawn_monitor_is_idle());
    }

    impl Nodes {
        fn spawn_monitor_is_idle(self) -> bool {
            std::sync::Arc::new(self).spawn_monitor().is_empty()
        }
    }
}
