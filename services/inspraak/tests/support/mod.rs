//! Running the platform as an operator would — `inspraak all` on a fresh
//! data directory, or four `inspraak serve` processes each on its own
//! PostgreSQL database on one RabbitMQ exchange — and the `inspraak` command
//! line against it.

#![allow(dead_code)]

pub mod demo;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use inspraak_kit::testing::{TestDatabase, amqp_url, unique};

pub const SERVICES: [&str; 4] = ["identity", "projects", "contributions", "notifications"];
pub const ADMIN: &str = "it-team@city.example";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

pub struct Platform {
    children: Vec<Child>,
    pub dir: PathBuf,
    pub urls: Vec<(String, String)>,
    pub setup_code: String,
    /// Runs after the processes stopped (broker objects, databases).
    cleanup: Option<Box<dyn FnOnce()>>,
    /// How to start a service of a production platform again.
    production: Option<Production>,
}

/// What a production platform's services need to be started again: the
/// deployment they share and each one's database URL (in `SERVICES` order,
/// as its children and URLs are).
struct Production {
    deployment: Deployment,
    database_urls: Vec<String>,
}

/// A process whose stdout (`false`) and stderr (`true`) lines arrive on the
/// receiver.
pub fn spawn_logged(mut command: Command) -> (Child, mpsc::Receiver<(bool, String)>) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start inspraak");
    let (tx, rx) = mpsc::channel::<(bool, String)>();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    for (is_err, stream) in [
        (false, Box::new(stdout) as Box<dyn std::io::Read + Send>),
        (true, Box::new(stderr)),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send((is_err, line));
            }
        });
    }
    (child, rx)
}

/// Waits for lines until `found` has seen what it needs (it returns true).
pub fn watch(
    rx: &mpsc::Receiver<(bool, String)>,
    what: &str,
    mut found: impl FnMut(bool, &str) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (is_err, line) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{what} within 30 s"));
        if found(is_err, &line) {
            return;
        }
    }
}

/// Keeps draining a process's output so it never blocks on a full pipe.
pub fn drain(rx: mpsc::Receiver<(bool, String)>) {
    std::thread::spawn(move || while rx.recv().is_ok() {});
}

/// The setup code identity prints for the first admin, if `line` has it.
pub fn setup_code(line: &str) -> Option<String> {
    line.split_once("one-time password setup code: ")
        .map(|(_, code)| code.trim().to_owned())
}

impl Platform {
    /// `inspraak all` on port 0 everywhere, with a first admin to set up;
    /// `prepare` runs on the data directory before the platform starts.
    pub fn start_with(prepare: impl FnOnce(&Path)) -> Self {
        Self::start_configured(prepare, &[])
    }

    /// As [`Platform::start_with`], with more of the platform's variables.
    pub fn start_configured(prepare: impl FnOnce(&Path), env: &[(&str, &str)]) -> Self {
        let dir = temp_dir();
        std::fs::create_dir_all(dir.join("data")).expect("temp dir");
        prepare(&dir.join("data"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_inspraak"));
        command
            .arg("all")
            .env("INSPRAAK_DATA_DIR", dir.join("data"))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("BOOTSTRAP_ADMIN_EMAIL", ADMIN)
            .env("NOTIFICATIONS_UNSUBSCRIBE_ADDR", "127.0.0.1:0")
            .env_remove("IDENTITY_URL");
        for service in SERVICES {
            let upper = service.to_uppercase();
            command.env(format!("{upper}_GRPC_ADDR"), "127.0.0.1:0");
            command.env(format!("{upper}_ADMIN_ADDR"), "off");
        }
        command.envs(env.iter().copied());
        let (child, rx) = spawn_logged(command);
        let mut urls = Vec::new();
        let mut code = String::new();
        watch(
            &rx,
            "the platform listens and prints the setup code",
            |is_err, line| {
                if is_err {
                    if let Some(found) = setup_code(line) {
                        code = found;
                    }
                } else if let Ok(entry) = serde_json::from_str::<serde_json::Value>(line)
                    && entry["message"] == "listening"
                {
                    urls.push((
                        entry["service"].as_str().expect("service").to_owned(),
                        format!("http://{}", entry["addr"].as_str().expect("addr")),
                    ));
                }
                urls.len() == SERVICES.len() && !code.is_empty()
            },
        );
        drain(rx);
        Self::from_parts(vec![child], dir, urls, code, None)
    }

    /// A platform of processes started by the caller.
    pub fn from_parts(
        children: Vec<Child>,
        dir: PathBuf,
        urls: Vec<(String, String)>,
        setup_code: String,
        cleanup: Option<Box<dyn FnOnce()>>,
    ) -> Self {
        let platform = Self {
            children,
            dir,
            urls,
            setup_code,
            cleanup,
            production: None,
        };
        platform.wait_until_ready();
        platform
    }

    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// The platform deployed as in production: four `inspraak serve`
    /// processes, each with a fresh PostgreSQL database, on RabbitMQ with an
    /// exchange and queues of their own; all removed when the platform is
    /// dropped. `env` is given to every process (a service's own variable
    /// with its prefix, e.g. `NOTIFICATIONS_SMTP_HOST`, reaches that one).
    pub fn start_production(env: &[(&str, &str)]) -> Self {
        let databases: Vec<TestDatabase> = current_thread().block_on(async {
            let mut databases = Vec::new();
            for _ in SERVICES {
                databases.push(TestDatabase::postgres().await);
            }
            databases
        });
        let deployment = Deployment {
            exchange: unique("inspraak.events.test_"),
            prefix: unique("test_"),
            dir: temp_dir(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        std::fs::create_dir_all(&deployment.dir).expect("temp dir");
        // Identity first: the others verify tokens with its keys.
        let any_port = "127.0.0.1:0";
        let (identity, identity_url, code) =
            deployment.start("identity", &databases[0].url, None, any_port, true);
        let mut children = vec![identity];
        let mut urls = vec![("identity".to_owned(), identity_url.clone())];
        for (service, database) in SERVICES[1..].iter().zip(&databases[1..]) {
            let (child, url, _) =
                deployment.start(service, &database.url, Some(&identity_url), any_port, false);
            children.push(child);
            urls.push(((*service).to_owned(), url));
        }
        let database_urls: Vec<String> = databases.iter().map(|d| d.url.clone()).collect();
        let (exchange, prefix) = (deployment.exchange.clone(), deployment.prefix.clone());
        let dir = deployment.dir.clone();
        let cleanup = move || {
            drop(databases);
            let queues: Vec<String> = QUEUES.iter().map(|q| format!("{prefix}{q}")).collect();
            // Runs in Drop: a failure here must not panic again.
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(inspraak_bus::testing::delete_rabbit_objects(
                    &amqp_url(),
                    &exchange,
                    &queues,
                ));
            }
        };
        let mut platform = Self::from_parts(children, dir, urls, code, Some(Box::new(cleanup)));
        platform.production = Some(Production {
            deployment,
            database_urls,
        });
        platform
    }

    /// The gRPC URL of `service`.
    pub fn url(&self, service: &str) -> &str {
        self.urls
            .iter()
            .find(|(name, _)| name == service)
            .map(|(_, url)| url.as_str())
            .unwrap_or_else(|| panic!("no service {service}"))
    }

    /// The database URL of `service`, on a production platform.
    pub fn database_url(&self, service: &str) -> &str {
        let production = self.production.as_ref().expect("a production platform");
        &production.database_urls[service_index(service)]
    }

    /// Kills `service`'s process with SIGKILL, as a crash or an OOM kill
    /// would: no drain, no goodbye to the broker or the database.
    pub fn kill(&mut self, service: &str) {
        let child = &mut self.children[service_index(service)];
        child.kill().expect("SIGKILL");
        child.wait().expect("the killed process is reaped");
    }

    /// Starts `service` of a production platform again, on the address it
    /// had, so its callers reconnect to the URL they were given.
    pub fn restart(&mut self, service: &str) {
        let production = self.production.as_ref().expect("a production platform");
        let index = service_index(service);
        let addr = self.urls[index].1.trim_start_matches("http://").to_owned();
        let identity = (service != "identity").then(|| self.urls[0].1.clone());
        let (child, _, _) = production.deployment.start(
            service,
            &production.database_urls[index],
            identity.as_deref(),
            &addr,
            false,
        );
        self.children[index] = child;
    }

    /// Starts another process of `service` on a production platform — a
    /// replica on the same database and queues — and returns its handle
    /// and URL.
    pub fn add_replica(&mut self, service: &str) -> (usize, String) {
        let production = self.production.as_ref().expect("a production platform");
        let index = service_index(service);
        let identity = (service != "identity").then(|| self.urls[0].1.clone());
        let (child, url, _) = production.deployment.start(
            service,
            &production.database_urls[index],
            identity.as_deref(),
            "127.0.0.1:0",
            false,
        );
        self.children.push(child);
        (self.children.len() - 1, url)
    }

    /// Sends SIGTERM to the process `handle` (a replica's) and waits for it
    /// to exit; whether it exited successfully.
    pub fn terminate(&mut self, handle: usize, within: Duration) -> bool {
        let child = &mut self.children[handle];
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM sent");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("the process's state") {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "the process did not stop within {within:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.cli(&["health"]);
            if out.status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "never ready:\n{}", text(&out));
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("home").join("config.yaml")
    }

    pub fn session_file(&self) -> PathBuf {
        self.dir.join("home").join("sessions").join("local.json")
    }

    /// The command line as an operator runs it, pointed at this platform.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_inspraak"));
        command
            .args(args)
            .env("INSPRAAK_CONFIG", self.config())
            .env_remove("INSPRAAK_CONTEXT")
            .env_remove("INSPRAAK_CLIENT_SECRET")
            .stdin(Stdio::null());
        for (service, url) in &self.urls {
            command.env(format!("INSPRAAK_{}_URL", service.to_uppercase()), url);
        }
        command
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run inspraak")
    }

    /// Runs the command line with `input` on standard input.
    pub fn cli_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run inspraak");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("inspraak finishes")
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "inspraak {args:?} failed:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with `-o json` and parses what it printed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("inspraak {args:?} printed no JSON ({e}):\n{stdout}"))
    }

    /// Sets the first admin's password with the setup code and signs in.
    pub fn sign_in_admin(&self) {
        let out = self.cli_with_input(
            &[
                "set-password",
                "--email",
                ADMIN,
                "--code",
                &self.setup_code,
                "--password-stdin",
            ],
            &format!("{ADMIN_PASSWORD}\n"),
        );
        assert!(out.status.success(), "{}", text(&out));
        self.sign_in(ADMIN, ADMIN_PASSWORD);
    }

    pub fn sign_in(&self, email: &str, password: &str) {
        let out = self.cli_with_input(
            &["login", "--email", email, "--password-stdin"],
            &format!("{password}\n"),
        );
        assert!(out.status.success(), "{}", text(&out));
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The queues the services declare on RabbitMQ, before their prefix.
const QUEUES: [&str; 7] = [
    "projects.collected",
    "projects.dlq",
    "contributions.projection",
    "contributions.people",
    "contributions.dlq",
    "notifications.notify",
    "notifications.dlq",
];

/// What the `inspraak serve` processes of one platform share.
struct Deployment {
    exchange: String,
    prefix: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Deployment {
    fn serve(
        &self,
        service: &str,
        database_url: &str,
        identity: Option<&str>,
        addr: &str,
    ) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_inspraak"));
        command
            .args(["serve", service])
            .env("DATABASE_URL", database_url)
            .env("BUS_URL", amqp_url())
            .env("BUS_EXCHANGE", &self.exchange)
            .env("BUS_QUEUE_PREFIX", &self.prefix)
            .env("ADMIN_ADDR", "off")
            .env("UNSUBSCRIBE_ADDR", "127.0.0.1:0")
            .env("MAIL_DIR", self.dir.join("mail"))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("BOOTSTRAP_ADMIN_EMAIL", ADMIN)
            .env_remove("IDENTITY_URL");
        if let Some(identity) = identity {
            command.env("IDENTITY_URL", identity);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        // After the test's variables: a restart must take its old address.
        command.env("GRPC_ADDR", addr);
        command
    }

    /// Starts a service and returns the address it says it started on (and
    /// the setup code, for identity). What it logs at WARN or worse is
    /// echoed to the test's output, for when a test fails.
    fn start(
        &self,
        service: &str,
        database_url: &str,
        identity: Option<&str>,
        addr: &str,
        wants_code: bool,
    ) -> (Child, String, String) {
        let (child, rx) = spawn_logged(self.serve(service, database_url, identity, addr));
        let (mut addr, mut code) = (String::new(), String::new());
        watch(&rx, "the service starts", |is_err, line| {
            if is_err {
                if let Some(found) = setup_code(line) {
                    code = found;
                }
            } else if let Ok(entry) = serde_json::from_str::<serde_json::Value>(line)
                && entry["message"] == "started"
            {
                addr = entry["addr"].as_str().unwrap_or_default().to_owned();
            }
            !addr.is_empty() && (!wants_code || !code.is_empty())
        });
        echo_problems(rx, service);
        (child, format!("http://{addr}"), code)
    }
}

/// Keeps draining a service's output, printing its warnings and errors.
fn echo_problems(rx: mpsc::Receiver<(bool, String)>, service: &str) {
    let service = service.to_owned();
    std::thread::spawn(move || {
        while let Ok((_, line)) = rx.recv() {
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                && matches!(entry["level"].as_str(), Some("WARN" | "ERROR"))
                // The broker client's own line per returned message repeats
                // the relay's warning with the whole message.
                && entry["target"] != "lapin::returned_messages"
            {
                // Enough to see what went wrong, not whole message dumps.
                let shown: String = line.chars().take(400).collect();
                eprintln!("[{service}] {shown}");
            }
        }
    });
}

fn service_index(service: &str) -> usize {
    SERVICES
        .iter()
        .position(|s| *s == service)
        .unwrap_or_else(|| panic!("no service {service}"))
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

pub fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(inspraak_kit::testing::unique("inspraak-cli-"))
}

/// Both streams, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
