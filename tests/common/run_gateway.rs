//! `h2edge run` as a child process: its config file, the lines it writes on stderr, a clean stop.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `h2edge run`; killed on drop unless stopped.
pub struct Gateway {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// What it printed up to "running".
    pub started: Vec<String>,
}

impl Gateway {
    /// Writes `config` to `dir/gateway.yaml` (rewrite it to reload), starts `h2edge run` on it with one worker, and
    /// waits until it says it is running.
    #[allow(dead_code)] // a crate that passes arguments uses `start_with` only
    pub fn start(dir: &Path, config: &str) -> Gateway {
        Gateway::start_with(dir, config, &[])
    }

    /// [`Gateway::start`] with more `h2edge run` arguments.
    pub fn start_with(dir: &Path, config: &str, args: &[&str]) -> Gateway {
        std::fs::create_dir_all(dir).expect("scratch dir");
        let path = dir.join("gateway.yaml");
        std::fs::write(&path, config).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_h2edge"))
            .args(["run", "--bind", "127.0.0.1", "--workers", "1"])
            .args(args)
            .arg(&path)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start h2edge run");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut gateway = Gateway {
            child,
            lines,
            started: Vec::new(),
        };
        gateway.started = gateway.wait_for("running");
        gateway
    }

    /// Its resident memory (VmRSS), in KiB.
    #[allow(dead_code)] // not every test crate reads it
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        status
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The lines printed from now up to the first that contains `what` (10 s at most).
    pub fn wait_for(&self, what: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    let done = line.contains(what);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("no line with {what:?} within 10 s; got {seen:#?}"),
            }
        }
    }

    /// Sends SIGTERM and asserts that it exits successfully within 5 s.
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(Duration::from_secs(5));
        assert!(status.success(), "exit status {status:?}");
    }

    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the process to exit; panics if it has not within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("h2edge run did not exit within {within:?}");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on now, for a gateway's listener or a backend.
#[allow(dead_code)] // not every test crate asks for one
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
