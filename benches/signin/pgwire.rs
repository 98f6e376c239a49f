//! Counts the SQL statements the service sends to PostgreSQL, by reading the wire.
//!
//! A loopback TCP proxy in front of PostgreSQL that forwards every byte unchanged and
//! parses the frontend (client -> server) messages of protocol 3.0: each simple `Query`
//! ('Q', split on ';') and each extended-protocol `Execute` ('E', resolved through `Bind`
//! and `Parse` to its SQL text) is one statement; each `Sync` ('S') or `Query` is one round
//! trip the client waits for. `SSLRequest`/`GSSENCRequest` are answered "no" by the proxy,
//! so the conversation stays readable (the service's own `sslmode` decides nothing here).
//!
//! Used only in a separate counting pass, never while throughput is measured.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;

#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Normalized SQL text -> executions.
    pub statements: BTreeMap<String, u64>,
    pub round_trips: u64,
    /// Connections opened through the proxy.
    pub connections: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.statements.values().sum()
    }

    /// `self - before`, statement by statement.
    pub fn since(&self, before: &Counts) -> Counts {
        let mut statements = BTreeMap::new();
        for (sql, n) in &self.statements {
            let d = n - before.statements.get(sql).copied().unwrap_or(0);
            if d > 0 {
                statements.insert(sql.clone(), d);
            }
        }
        Counts {
            statements,
            round_trips: self.round_trips - before.round_trips,
            connections: self.connections - before.connections,
        }
    }
}

pub struct Proxy {
    port: u16,
    counts: Arc<Mutex<Counts>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let counts = Arc::new(Mutex::new(Counts::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        std::thread::Builder::new()
            .name("pgwire-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let counts = c.clone();
                    std::thread::spawn(move || {
                        if let Ok(server) = TcpStream::connect(upstream) {
                            counts.lock().unwrap().connections += 1;
                            let _ = relay(client, server, counts);
                        }
                    });
                }
            })?;
        Ok(Proxy { port, counts, stop })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn snapshot(&self) -> Counts {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

fn read_i32(r: &mut impl Read) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_be_bytes(b))
}

fn read_body(r: &mut impl Read, len: i32) -> io::Result<Vec<u8>> {
    let len = usize::try_from(len - 4).map_err(|_| io::Error::other("bad message length"))?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// A NUL-terminated string at the start of `b`, and the rest.
fn cstr(b: &[u8]) -> (String, &[u8]) {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let rest = if end < b.len() {
        &b[end + 1..]
    } else {
        &[][..]
    };
    (String::from_utf8_lossy(&b[..end]).into_owned(), rest)
}

/// One line per statement shape: whitespace collapsed, select lists and insert column lists
/// elided, at most 160 characters.
pub fn normalize(sql: &str) -> String {
    let mut s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let upper = s.to_ascii_uppercase();
    if upper.starts_with("SELECT ") {
        if let Some(i) = upper.find(" FROM ") {
            if i > 40 {
                s = format!("SELECT ... {}", &s[i + 1..]);
            }
        }
    } else if upper.starts_with("INSERT INTO ") {
        if let Some(i) = s.find(" (") {
            let tail = upper.find(" ON CONFLICT").map(|j| &s[j..]).unwrap_or("");
            s = format!("{} (...) VALUES (...){tail}", &s[..i]);
        }
    }
    if s.chars().count() > 160 {
        s = s.chars().take(157).collect::<String>() + "...";
    }
    s
}

fn relay(client: TcpStream, mut server: TcpStream, counts: Arc<Mutex<Counts>>) -> io::Result<()> {
    let mut to_client = client.try_clone()?;
    let mut from_server = server.try_clone()?;
    let back = std::thread::spawn(move || {
        let _ = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let result = forward(client, &mut server, &counts);
    let _ = server.shutdown(Shutdown::Both);
    let _ = back.join();
    result
}

fn forward(client: TcpStream, server: &mut TcpStream, counts: &Mutex<Counts>) -> io::Result<()> {
    let mut answer = client.try_clone()?;
    let mut r = BufReader::with_capacity(64 * 1024, client);
    // Startup: untyped messages; answer encryption requests with "N" ourselves.
    loop {
        let len = read_i32(&mut r)?;
        let body = read_body(&mut r, len)?;
        let code = i32::from_be_bytes(body[..4].try_into().unwrap_or([0; 4]));
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            answer.write_all(b"N")?;
            continue;
        }
        let mut msg = len.to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        server.write_all(&msg)?;
        break;
    }
    let mut prepared: HashMap<String, String> = HashMap::new();
    let mut portals: HashMap<String, String> = HashMap::new();
    loop {
        let mut kind = [0u8; 1];
        if r.read_exact(&mut kind).is_err() {
            return Ok(());
        }
        let len = read_i32(&mut r)?;
        let body = read_body(&mut r, len)?;
        let mut msg = Vec::with_capacity(body.len() + 5);
        msg.push(kind[0]);
        msg.extend_from_slice(&len.to_be_bytes());
        msg.extend_from_slice(&body);
        match kind[0] {
            b'Q' => {
                let (sql, _) = cstr(&body);
                let mut c = counts.lock().unwrap();
                c.round_trips += 1;
                for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    *c.statements.entry(normalize(stmt)).or_default() += 1;
                }
            }
            b'P' => {
                let (name, rest) = cstr(&body);
                let (sql, _) = cstr(rest);
                prepared.insert(name, sql);
            }
            b'B' => {
                let (portal, rest) = cstr(&body);
                let (statement, _) = cstr(rest);
                let sql = prepared
                    .get(&statement)
                    .cloned()
                    .unwrap_or_else(|| "?".into());
                portals.insert(portal, sql);
            }
            b'E' => {
                let (portal, _) = cstr(&body);
                let sql = portals
                    .get(&portal)
                    .map(|s| normalize(s))
                    .unwrap_or_else(|| "?".into());
                *counts.lock().unwrap().statements.entry(sql).or_default() += 1;
            }
            b'S' => counts.lock().unwrap().round_trips += 1,
            _ => {}
        }
        server.write_all(&msg)?;
        if kind[0] == b'X' {
            return Ok(());
        }
    }
}
