//! A network namespace joined to the host by a veth pair, for the tests that run a
//! container in one and compare with what Linux gives there.

use std::process::Command;

use tests::text;

/// A network namespace `NAME` with a veth pair: the host's end has 10.N.M.1/24, the
/// namespace's 10.N.M.2/24 (and `lo` is up). Removed when dropped.
pub struct Netns {
    pub tag: u8,
    pub name: String,
    pub host_if: String,
    pub host_ip: String,
    pub ns_ip: String,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    assert!(o.status.success(), "ip {args:?}: {}", text(&o));
}

impl Netns {
    pub fn new(tag: u8) -> Netns {
        let pid = std::process::id();
        let name = format!("rsn{tag}-{pid}");
        let host_if = format!("rh{tag}x{}", pid % 100_000);
        let ns_if = format!("rn{tag}x{}", pid % 100_000);
        // A subnet of this test process and tag alone.
        let (a, b) = (200 + tag as u32 % 50, pid % 250);
        let n = Netns {
            tag,
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip: format!("10.{a}.{b}.1"),
            ns_ip: format!("10.{a}.{b}.2"),
        };
        // From here the namespace and the pair are removed by drop, whatever fails.
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &name]);
        ip(&["addr", "add", &format!("{}/24", n.host_ip), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{}/24", n.ns_ip),
            "dev",
            &ns_if,
        ]);
        ip(&["-n", &name, "link", "set", &ns_if, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        n
    }

    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// The namespace's end of the pair.
    pub fn ns_if(&self) -> String {
        format!("rn{}x{}", self.tag, std::process::id() % 100_000)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
