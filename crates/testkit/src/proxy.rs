//! A TCP proxy that can be switched off, to simulate a server (PostgreSQL, Redis, SMTP)
//! going away and coming back without touching the real one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards 127.0.0.1:PORT to a target address. While down, it cuts every open
/// connection and closes new ones at once, as if the server had stopped. Stops when
/// dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding to `target` (`host:port`).
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start(target: &str) -> TcpProxy {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("test proxy: cannot bind 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("test proxy: no local address: {e}"),
        };
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0_u64);
        let task = tokio::spawn(forward(
            listener,
            target.to_owned(),
            Arc::clone(&up),
            cut.clone(),
        ));
        TcpProxy {
            addr,
            up,
            cut,
            task,
        }
    }

    /// The local address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the proxy off (cutting open connections) or back on.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|generation| *generation += 1);
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut.send_modify(|generation| *generation += 1);
    }
}

async fn forward(
    listener: TcpListener,
    target: String,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
) {
    while let Ok((mut client, _)) = listener.accept().await {
        if !up.load(Ordering::SeqCst) {
            let _ = client.shutdown().await;
            continue;
        }
        let mut cut_rx = cut.subscribe();
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(&target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut_rx.changed() => {}
            }
        });
    }
}
