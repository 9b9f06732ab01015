//! A fault-injecting TCP proxy: services reach PostgreSQL or RabbitMQ through
//! it, and a test cuts the line as a network fault or a server restart would.
//! While cut, live connections are closed and new ones refused (nothing
//! listens on the port); once restored, connections pass again on the same
//! address, so clients recover with the URL they were given.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A proxy from a local port to `upstream`.
pub struct FaultProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
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
        let task = tokio::spawn(serve(
            listener,
            addr,
            upstream,
            cut_seen,
            Counters {
                accepted: accepted.clone(),
                severed: severed.clone(),
            },
        ));
        Ok(Self {
            addr,
            cut,
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

    /// Connections accepted and forwarded so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Live connections closed by cuts so far.
    pub fn severed(&self) -> u64 {
        self.severed.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Counters {
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
    counters: Counters,
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
                    counters.accepted.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(forward(client, upstream, cut.clone(), counters.severed.clone()));
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

/// Copies both ways until either side closes or the line is cut; dropping
/// both streams closes them.
async fn forward(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cut: watch::Receiver<bool>,
    severed: Arc<AtomicU64>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {
            severed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
}
