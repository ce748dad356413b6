//! A scriptable loopback HTTP server standing in for the services integrations call (Bloxlink,
//! RoVer, Roblox, a webhook): answers by path prefix, records every request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Seen {
    /// The value of header `name` (lowercase), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Answer {
    prefix: String,
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
    delay: Duration,
}

/// The server: its port, its script and what it saw.
#[derive(Clone)]
pub struct Mock {
    port: u16,
    answers: Arc<Mutex<Vec<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    /// Listens on 127.0.0.1 (port 0). Unscripted paths get a 404 with an empty JSON object.
    pub async fn start() -> Mock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mock = Mock {
            port: listener.local_addr().expect("addr").port(),
            answers: Arc::default(),
            seen: Arc::default(),
        };
        let server = mock.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.answer(socket).await });
            }
        });
        mock
    }

    /// `http://127.0.0.1:PORT`, for `plugins.test_origins`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers requests whose path starts with `prefix` (the newest rule wins).
    pub fn on(&self, prefix: &str, status: u16, body: &str) {
        self.on_with(prefix, status, body, &[], Duration::ZERO);
    }

    /// [`Mock::on`] with extra response headers and a delay before answering.
    pub fn on_with(
        &self,
        prefix: &str,
        status: u16,
        body: &str,
        headers: &[(&str, &str)],
        delay: Duration,
    ) {
        self.answers.lock().expect("lock").insert(
            0,
            Answer {
                prefix: prefix.to_owned(),
                status,
                body: body.to_owned(),
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                delay,
            },
        );
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear_seen(&self) {
        self.seen.lock().expect("lock").clear();
    }

    async fn answer(&self, mut socket: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read the head, then as much body as content-length says.
        let (head_end, length) = loop {
            let Ok(n) = socket.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
        };
        while buf.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.lines();
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
        self.seen.lock().expect("lock").push(Seen {
            method,
            path: path.clone(),
            headers,
            body,
        });
        let answer = self
            .answers
            .lock()
            .expect("lock")
            .iter()
            .find(|a| path.starts_with(&a.prefix))
            .cloned()
            .unwrap_or(Answer {
                prefix: String::new(),
                status: 404,
                body: "{}".into(),
                headers: Vec::new(),
                delay: Duration::ZERO,
            });
        tokio::time::sleep(answer.delay).await;
        let mut response = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            answer.status,
            answer.body.len()
        );
        for (k, v) in &answer.headers {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&answer.body);
        let _ = socket.write_all(response.as_bytes()).await;
    }
}
