//! The real `rollcall` binary as a child process: started with a chosen environment, its
//! log (stdout and stderr) collected, ready once it logs "listening", killed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings the child must not inherit from the test's environment (the test sets them).
const CLEARED: [&str; 8] = [
    "ROLLCALL_CONFIG",
    "ROLLCALL_DATABASE_URL",
    "ROLLCALL_REDIS_URL",
    "ROLLCALL_SMTP_URL",
    "ROLLCALL_MAIL_TO_LOG",
    "ROLLCALL_JWT_SECRET",
    "ROLLCALL_BIND",
    "ROLLCALL_DATA_DIR",
];

/// A free port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A running `rollcall` process.
pub struct Process {
    child: Child,
    log: Arc<Mutex<String>>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Process {
    /// Starts `rollcall <args>` on a free port with its data in `data_dir`, the models of
    /// the test environment, and `env` on top.
    pub fn start(args: &[&str], data_dir: &Path, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        command.args(args);
        for var in CLEARED {
            command.env_remove(var);
        }
        command
            .env("ROLLCALL_BIND", format!("127.0.0.1:{port}"))
            .env("ROLLCALL_DATA_DIR", data_dir)
            .env("ROLLCALL_MODEL_DIR", testkit::paths::model_dir())
            .env("ROLLCALL_LOG", "info")
            .env("ROLLCALL_LOG_FORMAT", "text")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", env!("CARGO_BIN_EXE_rollcall")));
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            collect(out, log.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, log.clone());
        }
        Self {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits for "listening" in the log; Err(log) when the process exits first or after
    /// `timeout`.
    pub fn wait_listening(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if self.log().contains("listening") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                return Err(format!("exited with {status}:\n{}", self.log()));
            }
            if start.elapsed() > timeout {
                return Err(format!("not listening after {timeout:?}:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself; None after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers drain the pipes.
                std::thread::sleep(Duration::from_millis(200));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
}
