//! A fault-injecting TCP proxy: services reach PostgreSQL or RabbitMQ through
//! it, and a test cuts the line as a network fault or a server restart would.
//! While cut, live connections are closed and new ones refused (nothing
//! listens on the port); once restored, connections pass again on the same
//! address, so clients recover with the URL they were given.
//!
//! A line can also be degraded rather than cut: every chunk arrives late,
//! and now and then one arrives much later, as a lost segment waits for its
//! retransmission (TCP keeps order, so what follows waits behind it).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a degraded line carries data, in each direction of each connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Degradation {
    /// Added to every chunk's trip.
    pub latency: Duration,
    /// Every `stall_every`-th chunk (0: none) takes `stall` instead: a lost
    /// segment and its retransmission.
    pub stall_every: u64,
    pub stall: Duration,
}

/// A proxy from a local port to `upstream`.
pub struct FaultProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    line: watch::Sender<Degradation>,
    accepted: Arc<AtomicU64>,
    severed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free local port and forwards each connection to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = listen("127.0.0.1:0".parse().map_err(io::Error::other)?)?;
        let addr = listener.local_addr()?;
        let (cut, cut_seen) = watch::channel(false);
        let accepted = Arc::new(AtomicU64::new(0));
        let severed = Arc::new(AtomicU64::new(0));
        let (line, line_seen) = watch::channel(Degradation::default());
        let task = tokio::spawn(serve(
            listener,
            addr,
            upstream,
            cut_seen,
            Connections {
                line: line_seen,
                accepted: accepted.clone(),
                severed: severed.clone(),
            },
        ));
        Ok(Self {
            addr,
            cut,
            line,
            accepted,
            severed,
            task,
        })
    }

    /// The proxy's address, for clients to use instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (`scheme://[user[:password]@]host:port/rest`) with its host and
    /// port replaced by the proxy's.
    pub fn rewrite(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let credentials = authority
            .rsplit_once('@')
            .map(|(credentials, _)| format!("{credentials}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}{}{path}", self.addr)
    }

    /// Closes every live connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Degrades the line (live connections too) until `heal`.
    pub fn degrade(&self, degradation: Degradation) {
        self.line.send_replace(degradation);
    }

    /// A clean line again.
    pub fn heal(&self) {
        self.line.send_replace(Degradation::default());
    }

    /// Connections accepted and forwarded so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Live connections closed by cuts so far.
    pub fn severed(&self) -> u64 {
        self.severed.load(Ordering::SeqCst)
    }
}

/// What every forwarded connection shares.
#[derive(Clone)]
struct Connections {
    line: watch::Receiver<Degradation>,
    accepted: Arc<AtomicU64>,
    severed: Arc<AtomicU64>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Closes the live connections, then stops listening.
        self.cut.send_replace(true);
        self.task.abort();
    }
}

/// The host and port of `url` (`scheme://[credentials@]host:port/...`),
/// resolved: the upstream of a proxy for that URL.
pub async fn upstream_of(url: &str) -> io::Result<SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    tokio::net::lookup_host(host_port)
        .await?
        .next()
        .ok_or_else(|| io::Error::other(format!("{host_port} resolves to nothing")))
}

/// A listener on `addr` that may take the port over again right after the
/// previous listener closed.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut cut: watch::Receiver<bool>,
    connections: Connections,
) {
    let mut listener = Some(listener);
    loop {
        if *cut.borrow_and_update() {
            // Refuse: nothing listens while the line is cut.
            listener = None;
            if cut.wait_for(|cut| !*cut).await.is_err() {
                return;
            }
            continue;
        }
        let current = match listener.take() {
            Some(current) => current,
            None => match rebind(addr).await {
                Some(current) => current,
                None => return,
            },
        };
        tokio::select! {
            incoming = current.accept() => {
                if let Ok((client, _)) = incoming {
                    connections.accepted.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(forward(client, upstream, cut.clone(), connections.clone()));
                }
                listener = Some(current);
            }
            // Cut (or restored) meanwhile: look again at the top.
            changed = cut.changed() => {
                if changed.is_err() {
                    return;
                }
                listener = Some(current);
            }
        }
    }
}

/// Takes the proxy's port again after a cut; the port is briefly free, so
/// another process could have taken it: then the proxy gives up.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        match listen(addr) {
            Ok(listener) => return Some(listener),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    eprintln!("fault proxy: cannot listen on {addr} again");
    None
}

/// Carries both ways until both sides closed or the line is cut; dropping
/// both streams closes them.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    mut cut: watch::Receiver<bool>,
    connections: Connections,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = async {
            tokio::join!(
                carry(client_read, server_write, connections.line.clone()),
                carry(server_read, client_write, connections.line.clone()),
            );
        } => {}
        _ = cut.wait_for(|cut| *cut) => {
            connections.severed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One direction of a connection, through the line as it is when each chunk
/// is read: a reader stamps each chunk with its arrival time and a writer
/// delivers them in order, so latency delays data without slowing the flow.
async fn carry(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    line: watch::Receiver<Degradation>,
) {
    let (chunks, mut arriving) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buffer = vec![0; 16 * 1024];
        let mut read = 0u64;
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            read += 1;
            let line = *line.borrow();
            let delay = if line.stall_every > 0 && read.is_multiple_of(line.stall_every) {
                line.stall
            } else {
                line.latency
            };
            if chunks
                .send((Instant::now() + delay, buffer[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = arriving.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The reading side ended: pass the close on.
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes what it reads.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut reply = vec![0; 4];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    }

    #[tokio::test]
    async fn rewrites_the_address_and_keeps_the_rest() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        let port = proxy.addr().port();
        assert_eq!(
            proxy.rewrite("postgres://postgres:secret@db.example:5432/inspraak_test_1"),
            format!("postgres://postgres:secret@127.0.0.1:{port}/inspraak_test_1")
        );
        assert_eq!(
            proxy.rewrite("amqp://guest:guest@127.0.0.1:5672/%2f"),
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
        );
        assert_eq!(
            upstream_of("amqp://guest:guest@127.0.0.1:5672/%2f")
                .await
                .expect("an address"),
            "127.0.0.1:5672".parse().expect("an address")
        );
    }

    #[tokio::test]
    async fn a_cut_closes_live_connections_and_refuses_new_ones_until_restored() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        let mut live = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut live).await.expect("through"), b"ping");

        proxy.cut();
        let mut buffer = [0; 4];
        let read = tokio::time::timeout(Duration::from_secs(2), live.read(&mut buffer))
            .await
            .expect("the live connection is closed at once");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "a live connection ends: {read:?}"
        );
        // The listener goes away a moment after the cut.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            match TcpStream::connect(proxy.addr()).await {
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => break,
                _ if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }

        proxy.restore();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let mut again = loop {
            match TcpStream::connect(proxy.addr()).await {
                Ok(stream) => break stream,
                Err(error) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "not listening again: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        assert_eq!(round_trip(&mut again).await.expect("through"), b"ping");
        assert_eq!(proxy.connections(), 2);
    }

    #[tokio::test]
    async fn a_degraded_line_delays_and_stalls_chunks_in_order_until_healed() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        let clean = std::time::Instant::now();
        assert_eq!(round_trip(&mut stream).await.expect("through"), b"ping");
        let clean = clean.elapsed();

        // Each round trip crosses the line twice (there and back), one chunk
        // each way; the clean round trip was each direction's first chunk,
        // so the third stalls.
        let latency = Duration::from_millis(100);
        let stall = Duration::from_millis(600);
        proxy.degrade(Degradation {
            latency,
            stall_every: 3,
            stall,
        });
        let first = std::time::Instant::now();
        assert_eq!(round_trip(&mut stream).await.expect("through"), b"ping");
        let first = first.elapsed();
        let second = std::time::Instant::now();
        assert_eq!(round_trip(&mut stream).await.expect("through"), b"ping");
        let second = second.elapsed();
        assert!(
            first >= latency * 2 && first < stall,
            "a delayed round trip took {first:?}"
        );
        assert!(second >= stall * 2, "a stalled round trip took {second:?}");

        proxy.heal();
        let healed = std::time::Instant::now();
        assert_eq!(round_trip(&mut stream).await.expect("through"), b"ping");
        assert!(
            healed.elapsed() < latency,
            "healed, a round trip took {:?} (clean: {clean:?})",
            healed.elapsed()
        );
    }
}
