//! Real local daemons for tests: `dockerd` (Debian `docker.io`), `podman system service`
//! (Debian `podman`) and `containerd` (Debian `containerd`), each in its own temporary
//! root, listening on a unix socket under it, and stopped when dropped. `start()` returns `Err(why)` when the daemon cannot
//! run here, so a test can print `SKIPPED: why` and return.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Docker,
    Podman,
    Containerd,
}

/// A running daemon; SIGTERM (then SIGKILL) on drop.
pub struct Daemon {
    pub kind: Kind,
    child: Child,
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
}

fn log_tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

impl Daemon {
    /// `dockerd --iptables=false --bridge=none` on `unix://DIR/docker.sock`.
    pub fn docker() -> Result<Daemon, String> {
        if Command::new("dockerd").arg("--version").output().is_err() {
            return Err("dockerd is not installed (Debian package docker.io)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("imgscan-dockerd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        let sock = d.join("docker.sock");
        let log = d.join("dockerd.log");
        let mut args: Vec<String> = vec![
            "--iptables=false".into(),
            "--ip6tables=false".into(),
            "--bridge=none".into(),
            format!("--host=unix://{}", sock.display()),
            format!("--data-root={}", d.join("data").display()),
            format!("--exec-root={}", d.join("exec").display()),
            format!("--pidfile={}", d.join("dockerd.pid").display()),
        ];
        if std::env::var_os("IMGSCAN_TEST_DOCKER_VFS").is_some() {
            args.push("--storage-driver=vfs".into());
        }
        let child = Command::new("dockerd")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .stderr(std::fs::File::create(d.join("dockerd.err")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting dockerd: {e}"))?;
        let mut dm = Daemon {
            kind: Kind::Docker,
            child,
            dir,
            sock,
        };
        dm.wait_ready(&[log, dm.dir.path().join("dockerd.err")])?;
        Ok(dm)
    }

    /// `podman system service --time=0` with vfs storage under DIR.
    pub fn podman() -> Result<Daemon, String> {
        if Command::new("podman").arg("--version").output().is_err() {
            return Err("podman is not installed (Debian package podman)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("imgscan-podman-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let sock = dir.path().join("podman.sock");
        let log = dir.path().join("podman.log");
        let mut cmd = Command::new("podman");
        cmd.args(podman_store_args(dir.path()))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?);
        let child = cmd.spawn().map_err(|e| format!("starting podman: {e}"))?;
        let mut dm = Daemon {
            kind: Kind::Podman,
            child,
            dir,
            sock,
        };
        dm.wait_ready(&[log])?;
        Ok(dm)
    }

    /// `containerd --config DIR/config.toml`: its own root, state and sockets under DIR,
    /// the CRI plugin off (it wants a CNI setup), images imported without unpacking.
    pub fn containerd() -> Result<Daemon, String> {
        if Command::new("containerd")
            .arg("--version")
            .output()
            .is_err()
        {
            return Err("containerd is not installed (Debian package containerd)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("imgscan-containerd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        let sock = d.join("containerd.sock");
        let log = d.join("containerd.log");
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = sock.display(),
        );
        std::fs::write(d.join("config.toml"), config).map_err(|e| e.to_string())?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting containerd: {e}"))?;
        let mut dm = Daemon {
            kind: Kind::Containerd,
            child,
            dir,
            sock,
        };
        dm.wait_ready(&[log])?;
        Ok(dm)
    }

    /// `ctr` against this containerd, in namespace `default`.
    pub fn ctr(&self, args: &[&str]) -> Result<String, String> {
        let o = Command::new("ctr")
            .arg("--address")
            .arg(&self.sock)
            .args(["--namespace", "default"])
            .args(args)
            .output()
            .map_err(|e| format!("running ctr: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "ctr {args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// `unix:///...` for `--docker-host` / `--podman-host` / `--containerd-address`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// Wait for `GET /_ping` to answer 200, or the process to exit.
    fn wait_ready(&mut self, logs: &[PathBuf]) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(90) {
            if let Ok(Some(st)) = self.child.try_wait() {
                let tails: Vec<String> = logs.iter().map(|l| log_tail(l)).collect();
                return Err(format!(
                    "{:?} exited with {st} before answering: {}",
                    self.kind,
                    tails.join("\n")
                ));
            }
            let up = match self.kind {
                Kind::Containerd => self.sock.exists() && self.ctr(&["version"]).is_ok(),
                _ => ping(&self.sock),
            };
            if up {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "{:?} did not answer on {} within 90 s",
            self.kind,
            self.sock.display()
        ))
    }

    /// Load a `docker save` archive with the daemon's own CLI.
    pub fn load(&self, archive: &Path) -> Result<(), String> {
        if self.kind == Kind::Containerd {
            let a = archive.to_str().ok_or("archive path is not UTF-8")?;
            return self.ctr(&["images", "import", "--no-unpack", a]).map(drop);
        }
        let mut cmd = match self.kind {
            Kind::Docker => {
                let mut c = Command::new("docker");
                c.arg("--host").arg(self.url());
                c
            }
            Kind::Podman | Kind::Containerd => {
                let mut c = Command::new("podman");
                c.args(podman_store_args(self.dir.path()));
                c
            }
        };
        let o = cmd
            .arg("load")
            .arg("-i")
            .arg(archive)
            .output()
            .map_err(|e| format!("running {:?} load: {e}", self.kind))?;
        if !o.status.success() {
            return Err(format!(
                "{:?} load failed: {}",
                self.kind,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(())
    }
}

/// The storage flags a Podman service and the `podman` CLI talking to it share.
fn podman_store_args(dir: &Path) -> Vec<String> {
    vec![
        "--storage-driver=vfs".into(),
        format!("--root={}", dir.join("root").display()),
        format!("--runroot={}", dir.join("run").display()),
        format!("--tmpdir={}", dir.join("tmp").display()),
        "--cgroup-manager=cgroupfs".into(),
        "--events-backend=file".into(),
    ]
}

/// Whether the Engine API answers `GET /_ping` with 200 on `sock`.
fn ping(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") && &buf[9..12] == b"200"
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop the containerd it started; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
