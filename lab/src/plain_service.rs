//! A plain TCP service in a namespace (a stand-in for a real service such
//! as OpenMPTCProuter's tunnel, which a user runs without MPTCP): it
//! accepts connections on both families and closes them. Runs on a thread
//! that entered the namespace; stopped and joined on drop.
use crate::netns::Netns;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// A running service; stopped on drop.
pub struct PlainService {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl PlainService {
    /// Listens on `[::]:port` (IPv4 too, mapped) with a plain TCP socket
    /// in `ns`; returns once it listens.
    pub fn start(ns: &Netns, port: u16) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        let flag = stop.clone();
        let thread = ns.spawn_thread(move || {
            let listener = match TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
            {
                Ok(l) => {
                    let _ = ready_tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    return;
                }
            };
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    // Accepted and closed: a service that says nothing.
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        })?;
        let service = PlainService {
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(service),
            Ok(Err(e)) => Err(io::Error::new(e.kind(), format!("plain service: {e}"))),
            Err(_) => Err(io::Error::other("plain service did not start within 10 s")),
        }
    }
}

impl Drop for PlainService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
