//! A small SMTP server for tests: it speaks enough of RFC 5321 for a
//! client without TLS, keeps every message it accepts, and can be told to
//! refuse service (421) as a server that is down would, or refuse one
//! recipient for good (550) as a server that knows no such mailbox would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    /// The whole message as sent: headers and body.
    pub data: String,
}

impl Mail {
    /// A header's value, unfolded as RFC 5322 says (the line break goes, the
    /// whitespace after it stays), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut()
                && (line.starts_with(' ') || line.starts_with('\t'))
            {
                v.push_str(line);
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// The subject, decoded when it came RFC 2047-encoded as UTF-8 base64.
    pub fn subject(&self) -> String {
        let raw = self.header("Subject").unwrap_or_default();
        decode_words(&raw)
    }

    /// The text part, decoded from quoted-printable or base64.
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    pub fn html(&self) -> String {
        self.part("text/html")
    }

    fn part(&self, kind: &str) -> String {
        let Some(start) = self.data.find(&format!("Content-Type: {kind}")) else {
            return String::new();
        };
        let rest = &self.data[start..];
        let encoding = rest
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let body = rest.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        // The part ends at the next boundary line, not at any line starting
        // with "--" (a text signature's "-- " separator is one).
        let end = self
            .header("Content-Type")
            .and_then(|t| {
                t.split_once("boundary=")
                    .map(|(_, b)| b.trim_matches('"').to_owned())
            })
            .map_or_else(|| "\r\n--".to_owned(), |b| format!("\r\n--{b}"));
        let body = body.split(end.as_str()).next().unwrap_or_default();
        if encoding.contains("base64") {
            use base64::Engine;
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap_or_default(),
            )
            .unwrap_or_default()
        } else if encoding.contains("quoted-printable") {
            quoted_printable(body)
        } else {
            body.to_owned()
        }
    }
}

fn quoted_printable(body: &str) -> String {
    let mut bytes = Vec::new();
    let mut chars = body
        .replace("=\r\n", "")
        .into_bytes()
        .into_iter()
        .peekable();
    while let Some(b) = chars.next() {
        if b == b'=' {
            let hi = chars.next().unwrap_or(b'0');
            let lo = chars.next().unwrap_or(b'0');
            let hex = [hi, lo];
            let text = std::str::from_utf8(&hex).unwrap_or("00");
            bytes.push(u8::from_str_radix(text, 16).unwrap_or(b'?'));
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn decode_words(raw: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    // Whitespace between two encoded words is not part of the text; next
    // to a plain word it is.
    let mut previous_encoded = None;
    for word in raw.split_whitespace() {
        let decoded = word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let encoded = decoded.is_some();
        if previous_encoded.is_some() && !(previous_encoded == Some(true) && encoded) {
            out.push(' ');
        }
        out.push_str(decoded.as_deref().unwrap_or(word));
        previous_encoded = Some(encoded);
    }
    out
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    refusing: Arc<AtomicBool>,
    /// Addresses answered 550 at RCPT.
    unknown: Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let sink = Self {
            port,
            mails: Arc::new(Mutex::new(Vec::new())),
            refusing: Arc::new(AtomicBool::new(false)),
            unknown: Arc::new(std::sync::Mutex::new(Vec::new())),
        };
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().session(stream));
            }
        });
        sink
    }

    /// Refuses (421) every new session while `down`, and ends the open
    /// ones at their next command.
    pub fn set_down(&self, down: bool) {
        self.refusing.store(down, Ordering::SeqCst);
    }

    /// Refuses `address` for good (550 at RCPT) from now on.
    pub fn refuse(&self, address: &str) {
        self.unknown
            .lock()
            .expect("the refused addresses")
            .push(address.to_lowercase());
    }

    /// Takes `address` again (its mailbox was fixed).
    pub fn accept(&self, address: &str) {
        self.unknown
            .lock()
            .expect("the refused addresses")
            .retain(|a| *a != address.to_lowercase());
    }

    fn refuses(&self, address: &str) -> bool {
        self.unknown
            .lock()
            .expect("the refused addresses")
            .contains(&address.to_lowercase())
    }

    pub async fn mails(&self) -> Vec<Mail> {
        self.mails.lock().await.clone()
    }

    async fn session(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        if self.refusing.load(Ordering::SeqCst) {
            let _ = write.write_all(b"421 test sink is down\r\n").await;
            return;
        }
        let _ = write.write_all(b"220 sink ESMTP\r\n").await;
        let mut to = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            // Going down closes the open sessions too, as a server
            // shutting down does: 421 to the next command.
            if self.refusing.load(Ordering::SeqCst) {
                let _ = write.write_all(b"421 test sink is going down\r\n").await;
                return;
            }
            let command = line.trim_end().to_uppercase();
            let reply: &[u8] = if command.starts_with("EHLO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if command.starts_with("HELO") || command.starts_with("MAIL FROM") {
                b"250 ok\r\n"
            } else if command.starts_with("RCPT TO") {
                let address = line
                    .trim_end()
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned())
                    .unwrap_or_default();
                if self.refuses(&address) {
                    b"550 5.1.1 no such mailbox here\r\n"
                } else {
                    to.push(address);
                    b"250 ok\r\n"
                }
            } else if command == "DATA" {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(unstuffed);
                }
                self.mails.lock().await.push(Mail {
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            } else if command == "QUIT" {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else if command == "RSET" || command == "NOOP" {
                to.clear();
                b"250 ok\r\n"
            } else {
                b"502 not here\r\n"
            };
            if write.write_all(reply).await.is_err() {
                return;
            }
        }
    }
}
