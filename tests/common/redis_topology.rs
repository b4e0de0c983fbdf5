//! Real Redis topologies from the `redis-server` binary alone, on free loopback ports in a
//! temporary directory, stopped when dropped: Sentinel (a master, one replica, one sentinel)
//! and Cluster (three masters, three replicas). Readiness is polled with deadlines: these
//! rigs must come up on a loaded machine too.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Value;

/// One `redis-server` process on a loopback port.
struct Node {
    port: u16,
    child: Option<Child>,
}

impl Node {
    fn start(dir: &std::path::Path, port: u16, extra: &[&str]) -> Self {
        let node_dir = dir.join(port.to_string());
        std::fs::create_dir_all(&node_dir).expect("node directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&node_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let node = Self {
            port,
            child: Some(child),
        };
        wait(Duration::from_secs(30), &format!("redis on {port}"), || {
            ping(port)
        });
        node
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A unique temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(kind: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cmm-{kind}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` loopback ports that are free now, with `port + 10000` free as well when `bus` (a
/// cluster node's bus port). Picked at random from a range the kernel does not hand out for
/// port 0, then checked by binding.
fn free_ports(n: usize, bus: bool) -> Vec<u16> {
    let mut ports = Vec::new();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        ^ u64::from(std::process::id());
    let mut state = seed | 1;
    while ports.len() < n {
        // xorshift: good enough to spread test runs over the range
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let port = 20_000 + (state % 12_000) as u16;
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if !ports.contains(&port) && free(port) && (!bus || free(port + 10_000)) {
            ports.push(port);
        }
    }
    ports
}

pub fn connection(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let conn = client.get_connection_with_timeout(Duration::from_millis(500))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(conn)
}

pub fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    cmd.query(&mut connection(port)?)
}

fn ping(port: u16) -> bool {
    query::<String>(port, &redis::cmd("PING")).is_ok()
}

fn info(port: u16, section: &str) -> String {
    query(port, redis::cmd("INFO").arg(section)).unwrap_or_default()
}

/// Polls `ready` every 50 ms, failing the test after `within`.
pub fn wait(within: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The role a node reports (`master`, `slave`, `sentinel`), if it answers.
pub fn role(port: u16) -> Option<String> {
    let role: Vec<Value> = query(port, &redis::cmd("ROLE")).ok()?;
    match role.first()? {
        Value::BulkString(kind) => Some(String::from_utf8_lossy(kind).into_owned()),
        Value::SimpleString(kind) => Some(kind.clone()),
        _ => None,
    }
}

/// A master, a replica of it and one sentinel watching them as `mymaster`, quick to fail over
/// (down after 1 s).
pub struct SentinelRig {
    pub master: u16,
    pub replica: u16,
    pub sentinel: u16,
    nodes: Vec<Node>,
    _dir: TempDir,
}

impl SentinelRig {
    pub fn start() -> Self {
        let dir = TempDir::new("sentinel");
        let ports = free_ports(3, false);
        let (master, replica, sentinel) = (ports[0], ports[1], ports[2]);
        let master_node = Node::start(&dir.0, master, &[]);
        let replica_node = Node::start(
            &dir.0,
            replica,
            &["--replicaof", "127.0.0.1", &master.to_string()],
        );
        wait(Duration::from_secs(30), "the replica in sync", || {
            info(replica, "replication").contains("master_link_status:up")
        });
        // The sentinel rewrites its configuration file: it must be its own, writable.
        let conf = dir.0.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor mymaster 127.0.0.1 {master} 1\n\
                 sentinel down-after-milliseconds mymaster 1000\n\
                 sentinel failover-timeout mymaster 3000\n\
                 sentinel parallel-syncs mymaster 1\n",
                dir.0.display()
            ),
        )
        .expect("sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel starts");
        let sentinel_node = Node {
            port: sentinel,
            child: Some(child),
        };
        let rig = Self {
            master,
            replica,
            sentinel,
            nodes: vec![master_node, replica_node, sentinel_node],
            _dir: dir,
        };
        // Failover needs the sentinel to know the replica (it learns it from the master).
        wait(
            Duration::from_secs(30),
            "the sentinel to see the replica",
            || {
                let replicas: redis::RedisResult<Vec<Vec<String>>> = query(
                    sentinel,
                    redis::cmd("SENTINEL").arg("replicas").arg("mymaster"),
                );
                replicas.is_ok_and(|r| {
                    r.iter()
                        .any(|fields| fields.iter().any(|f| f == &replica.to_string()))
                })
            },
        );
        assert_eq!(rig.master_port(), Some(master));
        rig
    }

    /// `host:port` of the sentinel, as `REDIS_NODES` takes it.
    pub fn sentinels(&self) -> String {
        format!("127.0.0.1:{}", self.sentinel)
    }

    /// The master's port as the sentinel names it.
    pub fn master_port(&self) -> Option<u16> {
        let addr: Option<(String, u16)> = query(
            self.sentinel,
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg("mymaster"),
        )
        .ok()?;
        addr.map(|(_, port)| port)
    }

    /// SIGKILL, as a crash.
    pub fn kill_master(&mut self) {
        self.nodes[0].kill();
    }

    /// Waits until the sentinel names the replica master and it acts as one.
    pub fn wait_for_promotion(&self, within: Duration) {
        wait(within, "the replica's promotion", || {
            self.master_port() == Some(self.replica)
                && role(self.replica).as_deref() == Some("master")
        });
    }
}

/// Three masters and three replicas, `cluster-node-timeout` 2 s (a replica takes over a dead
/// master within seconds).
pub struct ClusterRig {
    pub ports: Vec<u16>,
    nodes: Vec<Node>,
    _dir: TempDir,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub port: u16,
    pub master: bool,
    pub failed: bool,
    /// Slot ranges served (masters).
    pub slots: Vec<(u16, u16)>,
}

impl ClusterRig {
    pub fn start() -> Self {
        let dir = TempDir::new("cluster");
        let ports = free_ports(6, true);
        let nodes: Vec<Node> = ports
            .iter()
            .map(|&port| {
                let conf = format!("nodes-{port}.conf");
                Node::start(
                    &dir.0,
                    port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &conf,
                        "--cluster-node-timeout",
                        "2000",
                        // A replica takes over however long it was cut off.
                        "--cluster-replica-validity-factor",
                        "0",
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        let rig = Self {
            ports,
            nodes,
            _dir: dir,
        };
        wait(
            Duration::from_secs(60),
            "cluster_state:ok everywhere",
            || {
                rig.ports.iter().all(|&p| {
                    let info: String =
                        query(p, redis::cmd("CLUSTER").arg("INFO")).unwrap_or_default();
                    info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6")
                })
            },
        );
        wait(
            Duration::from_secs(60),
            "three masters with a replica each",
            || {
                let nodes = rig.nodes_view();
                nodes
                    .iter()
                    .filter(|n| n.master && !n.slots.is_empty())
                    .count()
                    == 3
                    && nodes.iter().filter(|n| !n.master).count() == 3
                    && rig
                        .ports
                        .iter()
                        .filter(|&&p| role(p).as_deref() == Some("slave"))
                        .all(|p| info(*p, "replication").contains("master_link_status:up"))
            },
        );
        rig
    }

    /// `host:port,...` of every node, as `REDIS_NODES` takes it.
    pub fn seeds(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `CLUSTER NODES` as a live node sees it.
    pub fn nodes_view(&self) -> Vec<ClusterNode> {
        let live = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port);
        for port in live {
            if let Ok(text) = query::<String>(port, redis::cmd("CLUSTER").arg("NODES")) {
                return text.lines().filter_map(parse_node).collect();
            }
        }
        Vec::new()
    }

    /// Ports of the masters serving slots now.
    pub fn masters(&self) -> Vec<u16> {
        self.nodes_view()
            .into_iter()
            .filter(|n| n.master && !n.failed && !n.slots.is_empty())
            .map(|n| n.port)
            .collect()
    }

    /// The master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> Option<u16> {
        let slot = key_slot(self.live_port()?, key)?;
        self.nodes_view()
            .into_iter()
            .find(|n| {
                n.master && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .map(|n| n.port)
    }

    fn live_port(&self) -> Option<u16> {
        self.nodes
            .iter()
            .find(|n| n.child.is_some())
            .map(|n| n.port)
    }

    /// `CLUSTER KEYSLOT key`.
    pub fn slot(&self, key: &str) -> Option<u16> {
        key_slot(self.live_port()?, key)
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
            node.kill();
        }
    }

    /// Keys matching `pattern` stored on the node at `port` (its own, not the cluster's).
    pub fn keys_on(&self, port: u16, pattern: &str) -> Vec<String> {
        let Ok(mut conn) = connection(port) else {
            return Vec::new();
        };
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
                .unwrap_or((0, Vec::new()));
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// Waits until every slot is served again and the cluster says ok.
    pub fn wait_until_whole(&self, within: Duration) {
        wait(within, "the cluster whole again", || {
            let live: Vec<u16> = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .map(|n| n.port)
                .collect();
            let ok = live.iter().all(|&p| {
                query::<String>(p, redis::cmd("CLUSTER").arg("INFO"))
                    .is_ok_and(|i| i.contains("cluster_state:ok"))
            });
            let served: u32 = self
                .nodes_view()
                .iter()
                .filter(|n| n.master && !n.failed && live.contains(&n.port))
                .flat_map(|n| n.slots.iter().map(|(a, b)| u32::from(b - a) + 1))
                .sum();
            ok && served == 16_384
        });
    }
}

fn key_slot(port: u16, key: &str) -> Option<u16> {
    query(port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).ok()
}

/// `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`
fn parse_node(line: &str) -> Option<ClusterNode> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let port = fields
        .get(1)?
        .split('@')
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()?;
    let flags = fields.get(2)?;
    let slots = fields
        .iter()
        .skip(8)
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .collect();
    Some(ClusterNode {
        port,
        master: flags.contains("master"),
        failed: flags.contains("fail") && !flags.contains("fail?"),
        slots,
    })
}
