//! `mptcp-traffic`: real MPTCP traffic for the benchmark (`bench/run.sh`),
//! which records it in its own namespaces to time `analyze` against tcpdump
//! on it. No generator that speaks MPTCP comes with a plain system (curl
//! before 8.9 has no `--mptcp`), so this is one, as small as it gets:
//!
//! ```text
//! mptcp-traffic serve PORT
//!     echoes whatever each connection sends (MPTCP listener, TCP when the
//!     kernel has none), until killed
//! mptcp-traffic run ADDR PORT [--conns N] [--size BYTES] [--seconds S]
//!     N MPTCP connections in parallel, each sending BYTES and reading them
//!     back in a loop (many small data segments, each with its DSS) for
//!     S seconds; prints the exchanges made
//! ```
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn mptcp_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let domain = Domain::for_address(*addr);
    Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP))
        .or_else(|_| Socket::new(domain, Type::STREAM, Some(Protocol::TCP)))
}

fn serve(port: u16) -> io::Result<()> {
    let addr = SocketAddr::from(([0u8; 16], port));
    let socket = mptcp_socket(&addr)?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(128)?;
    let listener: TcpListener = socket.into();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut buf = [0u8; 64 << 10];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

fn ping_pong(addr: SocketAddr, size: usize, until: Instant) -> io::Result<u64> {
    let socket = mptcp_socket(&addr)?;
    socket.connect(&SockAddr::from(addr))?;
    let mut stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    let out = vec![0x5au8; size];
    let mut back = vec![0u8; size];
    let mut exchanges = 0;
    while Instant::now() < until {
        stream.write_all(&out)?;
        stream.read_exact(&mut back)?;
        exchanges += 1;
    }
    Ok(exchanges)
}

fn run(args: &[String]) -> Result<(), String> {
    let ip: IpAddr = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or("run needs ADDR")?;
    let port: u16 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .ok_or("run needs PORT")?;
    let (mut conns, mut size, mut seconds) = (4usize, 64usize, 10.0f64);
    let mut it = args[2..].iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--conns" => conns = value.parse().map_err(bad)?,
            "--size" => size = value.parse().map_err(bad)?,
            "--seconds" => seconds = value.parse().map_err(|_| format!("bad {value}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let addr = SocketAddr::new(ip, port);
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..conns)
        .map(|_| std::thread::spawn(move || ping_pong(addr, size.max(1), until)))
        .collect();
    let mut total = 0;
    for w in workers {
        total += w
            .join()
            .map_err(|_| "a connection thread panicked".to_string())?
            .map_err(|e| format!("{addr}: {e}"))?;
    }
    println!("{total} exchanges of {size} bytes over {conns} connections");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => args
            .get(1)
            .and_then(|p| p.parse().ok())
            .ok_or("serve needs PORT".to_string())
            .and_then(|port| serve(port).map_err(|e| e.to_string())),
        Some("run") => run(&args[1..]),
        _ => Err("usage: mptcp-traffic serve PORT | run ADDR PORT [--conns N] [--size BYTES] [--seconds S]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mptcp-traffic: {e}");
            ExitCode::from(2)
        }
    }
}
