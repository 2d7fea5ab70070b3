//! The echo server run in-process on a thread that entered a namespace, so
//! every socket it opens belongs to that namespace. Used by the lab and by
//! the end-to-end tests, which cannot start another package's binary (the
//! lab's `--bin-dir` mode and CI's lab run cover the real binary).
use crate::netns::Netns;
/// The server's settings, for tests that start it with more than a port.
pub use probe_server::server::Config;
use probe_server::server::{self, Shared};
use std::io;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running echo server; stopped (and its thread joined) on drop.
pub struct InProcessServer {
    /// The server's stores and counters, for tests that look inside.
    pub shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<io::Result<()>>>>,
}

impl InProcessServer {
    /// Starts `config` in `ns` and waits (up to 10 s) until it serves.
    pub fn start(ns: &Netns, config: Config) -> io::Result<Self> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = ns.spawn_thread(move || {
            server::run(
                config,
                None,
                async {
                    let _ = stop_rx.await;
                },
                move |shared| {
                    let _ = ready_tx.send(shared);
                },
            )
        })?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(shared) => Ok(InProcessServer {
                shared,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(_) => {
                let r = thread.join();
                Err(io::Error::other(format!(
                    "echo server did not start: {r:?}"
                )))
            }
        }
    }

    /// The default configuration listening on `port` only.
    pub fn on_port(ns: &Netns, port: u16) -> io::Result<Self> {
        Self::start(
            ns,
            Config {
                ports: vec![port],
                ..Config::default()
            },
        )
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
