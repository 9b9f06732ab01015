//! A RabbitMQ node of the test's own: the machine's RabbitMQ server started
//! once more, under its own node name, ports and data directory, so that a
//! test can kill it with SIGKILL and start it again without disturbing the
//! shared broker every other test uses. Its queues and messages live in its
//! data directory and survive the restarts, as in production; the directory
//! is removed when the node is dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts the server (the `/usr/sbin` wrapper would
/// switch to the `rabbitmq` user and the shared node's settings).
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// How long a start may take on a busy two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);

pub struct RabbitNode {
    name: String,
    dir: PathBuf,
    port: u16,
    dist_port: u16,
    process: Option<Child>,
    /// How long each start took, first one included.
    pub starts: Vec<Duration>,
}

/// How a node is taken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGKILL to the Erlang VM: no goodbye to clients, nothing flushed.
    Kill,
    /// SIGTERM: RabbitMQ's orderly shutdown, clients told the connection
    /// is closing.
    Terminate,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

impl RabbitNode {
    /// Whether this machine can run one (the server is installed).
    pub fn available() -> bool {
        std::path::Path::new(SERVER).exists()
    }

    /// Starts a node and waits until it takes connections.
    pub fn start() -> Self {
        let name = format!(
            "{}@localhost",
            inspraak_kit::testing::unique("inspraak_test_")
        );
        let dir = std::env::temp_dir().join(name.replace('@', "_"));
        std::fs::create_dir_all(dir.join("mnesia")).expect("the node's directory");
        std::fs::create_dir_all(dir.join("log")).expect("the node's log directory");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("enabled_plugins");
        // An empty environment file: the shared node's (its name) must not apply.
        std::fs::write(dir.join("rabbitmq-env.conf"), "").expect("env file");
        let (port, dist_port) = (free_port(), free_port());
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .expect("rabbitmq.conf");
        let mut node = Self {
            name,
            dir,
            port,
            dist_port,
            process: None,
            starts: Vec::new(),
        };
        node.start_again();
        node
    }

    /// `amqp://` URL of the node.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Starts the node on its data directory and waits until it takes
    /// connections.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the node is running");
        let started = Instant::now();
        let log = std::fs::File::create(self.dir.join(format!("start-{}.log", self.starts.len())))
            .expect("a start log");
        let child = Command::new(SERVER)
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start rabbitmq-server");
        self.process = Some(child);
        while !port_open(self.port) {
            if let Some(status) = self
                .process
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the RabbitMQ node exited at start ({status}); see {}",
                    self.dir.display()
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the RabbitMQ node did not open port {} within {START_TIMEOUT:?}; see {}",
                self.port,
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.starts.push(started.elapsed());
    }

    /// The Erlang VM's process id (the start script is its parent).
    fn vm_pid(&self) -> Option<i32> {
        let file = self.dir.join("mnesia").join(format!("{}.pid", self.name));
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// Takes the node down and waits until it is gone.
    pub fn stop(&mut self, how: Stop) {
        let Some(mut script) = self.process.take() else {
            return;
        };
        let signal = match how {
            Stop::Kill => "-KILL",
            Stop::Terminate => "-TERM",
        };
        if let Some(pid) = self.vm_pid() {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && Instant::now() < deadline
            {
                // A zombie until its parent script reaps it.
                if std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // The script ends with its VM; make sure of it.
        let _ = script.kill();
        let _ = script.wait();
        let _ = std::fs::remove_file(self.dir.join("mnesia").join(format!("{}.pid", self.name)));
        let deadline = Instant::now() + Duration::from_secs(30);
        while port_open(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        self.stop(Stop::Kill);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
