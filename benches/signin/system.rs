//! The service as a child process, the operating system's accounting of it (/proc), and
//! throw-away PostgreSQL databases.

use diesel::{PgConnection, QueryableByName, RunQueryDsl};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Children and databases to clean up if the benchmark is interrupted (Ctrl-C).
static LIVE_PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static LIVE_DATABASES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Called on Ctrl-C: SIGTERM to every service still running, drop every database.
pub fn emergency_cleanup() {
    for pid in LIVE_PIDS.lock().unwrap().drain(..) {
        signal(pid, "TERM");
    }
    std::thread::sleep(Duration::from_millis(500));
    for (server, name) in LIVE_DATABASES.lock().unwrap().drain(..) {
        drop_database(&server, &name);
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

pub fn random_secret(len: usize) -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The environment every `jit-sso` command of one run gets (on top of a cleaned inherited
/// environment: no JIT_SSO_*, DATABASE_URL or RUST_LOG of the caller leaks in).
#[derive(Clone)]
pub struct ServiceEnv {
    pub bin: PathBuf,
    pub vars: Vec<(String, String)>,
}

impl ServiceEnv {
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("JIT_SSO") || k == "DATABASE_URL" || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn with(&self, key: &str, value: &str) -> ServiceEnv {
        let mut env = self.clone();
        env.vars.retain(|(k, _)| k != key);
        env.vars.push((key.to_owned(), value.to_owned()));
        env
    }

    /// Runs a `jit-sso` operator command to completion; its output on failure.
    pub fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Result<(), String> {
        self.output(args, extra).map(drop)
    }

    /// Runs a `jit-sso` command and returns what it printed on stdout.
    pub fn output(&self, args: &[&str], extra: &[(&str, &str)]) -> Result<String, String> {
        let out = self
            .command()
            .args(args)
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`jit-sso {}` failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

pub struct Service {
    child: Option<Child>,
    pub pid: u32,
    pub started: Instant,
    pub log: PathBuf,
}

impl Service {
    /// Starts `jit-sso serve`; stdout and stderr go to `log`.
    pub fn spawn(env: &ServiceEnv, log: &Path) -> Result<Service, String> {
        let file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let started = Instant::now();
        let child = env
            .command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", env.bin.display()))?;
        let pid = child.id();
        LIVE_PIDS.lock().unwrap().push(pid);
        Ok(Service {
            child: Some(child),
            pid,
            started,
            log: log.to_owned(),
        })
    }

    /// Polls `/readyz` until it answers 200; the time since the process was started.
    pub async fn wait_ready(&mut self, base: &str, limit: Duration) -> Result<Duration, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let url = format!("{base}/readyz");
        loop {
            if let Ok(r) = client.get(&url).send().await {
                if r.status().as_u16() == 200 {
                    return Ok(self.started.elapsed());
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!(
                    "the service exited at start ({status}); see {}",
                    self.log.display()
                ));
            }
            if self.started.elapsed() > limit {
                return Err(format!(
                    "the service was not ready within {limit:?}; see {}",
                    self.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// SIGTERM, then waits (SIGKILL after 30 s); the time it took and the exit status.
    pub fn stop(&mut self) -> Option<(Duration, ExitStatus)> {
        let mut child = self.child.take()?;
        let t = Instant::now();
        signal(self.pid, "TERM");
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if t.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = child.kill();
                    break child.wait().ok()?;
                }
            }
        };
        LIVE_PIDS.lock().unwrap().retain(|p| *p != self.pid);
        Some((t.elapsed(), status))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- /proc ---------------------------------------------------------------------------

/// Clock ticks per second of /proc/<pid>/stat times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

fn stat_fields(path: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let f = stat_fields(&format!("/proc/{pid}/stat"))?;
    // Fields 14 and 15 of stat(5); index 0 here is field 3 (state).
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// utime + stime of this process's threads whose name starts with `prefix`.
pub fn own_thread_ticks(prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| {
            let tid = e.file_name().into_string().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
            if !comm.starts_with(prefix) {
                return None;
            }
            let f = stat_fields(&format!("/proc/self/task/{tid}/stat"))?;
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the process's peak RSS (VmHWM) to its current RSS (Linux 4.0+).
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// (busy, total) ticks of the whole machine, from /proc/stat.
pub fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    (busy, busy + get(3) + get(4))
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---- PostgreSQL ------------------------------------------------------------------------

/// A fresh database on `server` (e.g. `postgres://postgres@127.0.0.1:5432`), dropped with
/// its connections on drop.
pub struct PgDatabase {
    pub server: String,
    pub name: String,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// `server/name`, keeping the server URL's query (e.g. `?sslmode=disable`) at the end.
fn database_url(server: &str, name: &str) -> String {
    match server.split_once('?') {
        Some((base, query)) => format!("{}/{name}?{query}", base.trim_end_matches('/')),
        None => format!("{}/{name}", server.trim_end_matches('/')),
    }
}

fn admin(server: &str) -> Result<PgConnection, String> {
    jit_sso::db::establish_postgres(&database_url(server, "postgres"))
        .map_err(|e| format!("PostgreSQL not reachable at {server}: {e}"))
}

fn drop_database(server: &str, name: &str) {
    if let Ok(mut c) = admin(server) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c);
    }
}

impl PgDatabase {
    pub fn create(server: &str, name: &str) -> Result<PgDatabase, String> {
        let mut c = admin(server)?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        LIVE_DATABASES
            .lock()
            .unwrap()
            .push((server.to_owned(), name.to_owned()));
        Ok(PgDatabase {
            server: server.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn url(&self) -> String {
        database_url(&self.server, &self.name)
    }

    /// Process ids of the server backends connected to this database.
    pub fn backend_pids(&self) -> Vec<i32> {
        let Ok(mut c) = admin(&self.server) else {
            return Vec::new();
        };
        diesel::sql_query(format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{}'",
            self.name
        ))
        .load::<Pid>(&mut c)
        .map(|v| v.into_iter().map(|p| p.pid).collect())
        .unwrap_or_default()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        drop_database(&self.server, &self.name);
        LIVE_DATABASES
            .lock()
            .unwrap()
            .retain(|(_, n)| n != &self.name);
    }
}
