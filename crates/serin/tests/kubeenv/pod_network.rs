//! A pod network for the Kubernetes tests whose pods run for real (kubelet.rs): a network
//! namespace of the test's own, joined to the host by a veth pair, with a private /24
//! (10.213.N.0/24). The host side is 10.213.N.1, so that anything on the host (Traefik, the
//! test's own requests) reaches the pods by the connected route; each pod gets an address of
//! its own on the namespace's side, where its process listens. N is claimed by creating the
//! host-side link `serin-pN`, which fails when another test holds it, so tests running in
//! parallel never share a subnet. Dropping it removes the link and the namespace (tests that
//! panic drop it too); a namespace left by a test that was killed is removed by the next one.
//! Making a network namespace needs root.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Prefix of the namespaces' names: `serin-pods-N-PID`, PID being the test process's.
const NAMESPACE_PREFIX: &str = "serin-pods-";

pub struct PodNetwork {
    /// The network namespace's name, for `ip netns exec`.
    namespace: String,
    host_link: String,
    subnet: u8,
    /// The last octets of the addresses handed to pods and not yet given back.
    taken: Mutex<BTreeSet<u8>>,
    removed: AtomicBool,
}

/// Runs `ip ARGS`; the error is ip's own message.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (Debian's iproute2; scripts/test.sh installs it): {e}"));
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

impl PodNetwork {
    /// Claims a free subnet and makes the namespace, its veth pair and their addresses.
    pub fn create() -> PodNetwork {
        remove_abandoned_namespaces();
        // Start where this process's id points, so that parallel tests rarely try the same N.
        let first = std::process::id() % 254;
        for n in (0..254).map(|i| ((first + i) % 254 + 1) as u8) {
            let host_link = format!("serin-p{n}");
            let namespace = format!("{NAMESPACE_PREFIX}{n}-{}", std::process::id());
            if let Err(e) = ip(&["netns", "add", &namespace]) {
                assert!(e.contains("File exists"), "cannot make a network namespace (the test needs root): {e}");
                continue;
            }
            let link = ["link", "add", &host_link, "type", "veth", "peer", "name", "eth0", "netns", &namespace];
            if let Err(e) = ip(&link) {
                let _ = ip(&["netns", "del", &namespace]);
                assert!(e.contains("File exists"), "cannot make the pod network's veth pair: {e}");
                continue; // another test holds this subnet
            }
            let network = PodNetwork {
                namespace,
                host_link,
                subnet: n,
                taken: Mutex::default(),
                removed: AtomicBool::new(false),
            };
            network.configure().unwrap_or_else(|e| panic!("cannot configure the pod network: {e}"));
            return network;
        }
        panic!("every subnet 10.213.1-254.0/24 is taken by a pod network (`ip link` lists them as serin-pN)");
    }

    fn configure(&self) -> Result<(), String> {
        let (host, inside) = (format!("{}/24", self.address(1)), format!("{}/24", self.address(2)));
        ip(&["addr", "add", &host, "dev", &self.host_link])?;
        ip(&["link", "set", &self.host_link, "up"])?;
        ip(&["-n", &self.namespace, "addr", "add", &inside, "dev", "eth0"])?;
        ip(&["-n", &self.namespace, "link", "set", "eth0", "up"])?;
        ip(&["-n", &self.namespace, "link", "set", "lo", "up"])
    }

    fn address(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, last)
    }

    /// A new address for a pod (10.213.N.3 and up), on the namespace's side of the veth pair.
    pub fn add_address(&self) -> Ipv4Addr {
        let mut taken = self.taken.lock().unwrap();
        let last = (3..=254).find(|last| !taken.contains(last)).expect("a pod network holds at most 252 pods");
        let address = self.address(last);
        ip(&["-n", &self.namespace, "addr", "add", &format!("{address}/32"), "dev", "eth0"])
            .unwrap_or_else(|e| panic!("cannot give a pod an address: {e}"));
        taken.insert(last);
        address
    }

    /// Gives back a pod's address.
    pub fn remove_address(&self, address: Ipv4Addr) {
        let _ = ip(&["-n", &self.namespace, "addr", "del", &format!("{address}/32"), "dev", "eth0"]);
        self.taken.lock().unwrap().remove(&address.octets()[3]);
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.namespace, program]);
        command
    }

    /// Removes the veth pair and the namespace, once (after that the subnet may be another
    /// test's); processes still in the namespace lose their network.
    pub fn remove(&self) {
        if !self.removed.swap(true, Ordering::SeqCst) {
            // Deleting one end of a veth pair deletes both.
            let _ = ip(&["link", "del", &self.host_link]);
            let _ = ip(&["netns", "del", &self.namespace]);
        }
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Removes the namespaces (and with them their veth pairs) of test processes that are gone.
fn remove_abandoned_namespaces() {
    let Ok(names) = std::fs::read_dir("/run/netns") else { return };
    for name in names.flatten().map(|entry| entry.file_name().to_string_lossy().into_owned()) {
        let owner = name.strip_prefix(NAMESPACE_PREFIX).and_then(|rest| rest.split_once('-')).map(|(_, pid)| pid);
        if owner.is_some_and(|pid| !std::path::Path::new("/proc").join(pid).exists()) {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}
