//! A Redis Cluster of 3 masters started by the test (redis-server and `redis-cli --cluster
//! create`): hosts given different nodes share one record, through `MOVED`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use apiauth::store::Store;
use apiauth_redis::RedisStore;

use crate::server::{Answer, TokenServer};
use crate::support::{Fleet, Redis, credentials, key_of, prefix, skip};

struct Cluster {
    nodes: Vec<Redis>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear(); // stops them
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port whose cluster bus port (+10000) is free too.
fn cluster_port(taken: &[u16]) -> u16 {
    for _ in 0..1000 {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < 55_000
            && !taken.contains(&port)
            && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair");
}

impl Cluster {
    fn start(test: &str) -> Option<Cluster> {
        let dir = std::env::temp_dir().join(format!(
            "apiauth-redis-cluster-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
        };
        let mut ports = Vec::new();
        for _ in 0..3 {
            let port = cluster_port(&ports);
            ports.push(port);
            let conf = cluster.dir.join(format!("nodes-{port}.conf"));
            let dir = cluster.dir.to_str().unwrap().to_owned();
            let node = Redis::own_on(
                test,
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    conf.to_str().unwrap(),
                    "--dir",
                    &dir,
                ],
            )?;
            cluster.nodes.push(node);
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output();
        let Ok(created) = created else {
            skip(test);
            return None;
        };
        assert!(created.status.success(), "{created:?}");
        for node in &cluster.nodes {
            let mut ok = false;
            for _ in 0..500 {
                if node.cmd(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                    ok = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(ok, "the cluster did not come up within 10 s");
        }
        Some(cluster)
    }
}

#[test]
fn eight_hosts_on_three_masters_send_one_token_request() {
    let Some(cluster) = Cluster::start("eight_hosts_on_three_masters") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let prefix = prefix("cluster");
    let fleet = Fleet::new(&cluster.nodes[0], &prefix, &server.url);
    let urls: Vec<&str> = cluster.nodes.iter().map(|n| n.url.as_str()).collect();
    let hosts = fleet.run_on(&urls, 8);
    for host in &hosts {
        assert_eq!(host.result, "token=tok-1", "{host:?}");
        assert_eq!(host.logged("token store failed"), 0, "{host:?}");
    }
    assert_eq!(server.requests(), 1);
    // The record is on one node, and its lease would be in the same cluster slot.
    let keys: Vec<String> = cluster.nodes.iter().flat_map(|n| n.keys(&prefix)).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let slot = cluster.nodes[0].cmd(&["CLUSTER", "KEYSLOT", &keys[0]]);
    let lease = format!("{}:lock", keys[0]);
    assert_eq!(cluster.nodes[0].cmd(&["CLUSTER", "KEYSLOT", &lease]), slot);
}

/// A slot being moved to another node: the store follows `ASK` (with `ASKING`) for keys
/// that are already on the new node, for reads, the lease and a fenced write.
#[test]
fn a_slot_being_migrated_is_followed_with_ask() {
    let Some(cluster) = Cluster::start("a_slot_being_migrated") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let key = key_of(&server, credentials());
    let prefix = prefix("ask");
    let probe = RedisStore::open(&cluster.nodes[0].url, &prefix)
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let record = probe.record_key(&key);
    let slot = cluster.nodes[0].cmd(&["CLUSTER", "KEYSLOT", &record]);
    let owner = (cluster.nodes.iter())
        .position(|n| n.cmd(&["GET", &record]) == "(nil)")
        .unwrap();
    let (from, to) = (&cluster.nodes[owner], &cluster.nodes[(owner + 1) % 3]);
    let id = |n: &Redis| n.cmd(&["CLUSTER", "MYID"]);
    assert_eq!(
        to.cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &id(from)]),
        "OK"
    );
    assert_eq!(
        from.cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &id(to)]),
        "OK"
    );
    let store = RedisStore::open(&from.url, &prefix)
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    assert_eq!(store.read(&key).unwrap(), None);
    let mut guard = store
        .lock(&key, Duration::ZERO, Duration::from_secs(10))
        .unwrap()
        .unwrap();
    // The lease is on the new node already, the record on neither: a script on both
    // keys is refused (TRYAGAIN) until the slot has moved.
    assert_eq!(
        to.cmds(&[&["ASKING"], &["EXISTS", &probe.lock_key(&key)]]),
        "1"
    );
    let error = guard.write(b"moved", Duration::from_secs(10)).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("cannot write: server answered TRYAGAIN"),
        "{error}"
    );
    for node in &cluster.nodes {
        assert_eq!(
            node.cmd(&["CLUSTER", "SETSLOT", &slot, "NODE", &id(to)]),
            "OK"
        );
    }
    // Now MOVED, followed.
    guard.write(b"moved", Duration::from_secs(10)).unwrap();
    assert_eq!(guard.read().unwrap().as_deref(), Some(&b"moved"[..]));
    drop(guard);
    assert_eq!(to.cmd(&["GET", &record]), "moved");
    assert_eq!(to.cmd(&["EXISTS", &probe.lock_key(&key)]), "0"); // released
    assert_eq!(from.cmd(&["DBSIZE"]), "0");
}
