//! A real PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl start`
//! listening only on a Unix socket in that directory (no TCP), trust authentication for
//! the `postgres` role.
//!
//! PostgreSQL refuses to run as root: when the tests run as root (CI), the server runs as
//! the `postgres` OS user (`runuser -u postgres --`, the directory is handed to it);
//! otherwise as the current user. The binaries are Debian's (`/usr/lib/postgresql/N/bin`,
//! package `postgresql`) or on `PATH`. Without them a test is skipped with a loud note,
//! and fails when `CI` is set ([`crate::host::require`]).
//!
//! - [`PgServer::start`]: a server owned by the caller, stopped and removed on drop (a
//!   test that restarts the database uses its own).
//! - [`PgServer::shared`]: one server for the whole test process (each test takes a fresh
//!   database with [`PgServer::create_database`]); a watchdog stops it and removes its
//!   directory once the test process has exited.
//!
//! `fsync` is off: a test's database never outlives an OS crash, and a process kill or an
//! immediate shutdown of PostgreSQL still loses nothing committed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The socket "port" (it only names the socket file `.s.PGSQL.5432`).
const PORT: u16 = 5432;

/// A running test server.
#[derive(Debug)]
pub struct PgServer {
    /// Holds `data/` and the socket; owned by the server's user.
    dir: PathBuf,
    bin: PathBuf,
    /// Run commands as this OS user (`Some("postgres")` when we are root).
    run_as: Option<String>,
    /// Remove and stop on drop (false for the shared server: its watchdog does it).
    owned: bool,
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).find(|d| d.join("pg_ctl").is_file() && d.join("initdb").is_file())
}

fn is_root() -> bool {
    // The effective uid, without libc: /proc/self/status "Uid: real effective ...".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn owner_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.split(':').next() == Some(user))?;
    let mut f = line.split(':').skip(2);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

static NEXT_DB: AtomicU64 = AtomicU64::new(1);

impl PgServer {
    /// Starts a server of its own; `None` (after a `SKIPPED:` note) when PostgreSQL is
    /// not installed outside CI. Panics under CI when it is missing, or on any failure.
    pub fn start() -> Option<PgServer> {
        let server = Self::launch(true)?;
        Some(server)
    }

    /// The server shared by every test of this process (started on first use).
    pub fn shared() -> Option<&'static PgServer> {
        static SHARED: OnceLock<Option<PgServer>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let s = Self::launch(false)?;
                s.watchdog();
                Some(s)
            })
            .as_ref()
    }

    fn launch(owned: bool) -> Option<PgServer> {
        let bin = find_bin_dir();
        if !crate::host::require(
            bin.is_some(),
            "PostgreSQL (initdb, pg_ctl: Debian package `postgresql`)",
        ) {
            return None;
        }
        let bin = bin?;
        let run_as = is_root().then(|| "postgres".to_string());
        let base = std::env::temp_dir();
        let dir = base.join(format!(
            "dg-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL test directory");
        if let Some(user) = &run_as {
            let (uid, gid) = owner_ids(user).unwrap_or_else(|| {
                panic!("running as root, and there is no `{user}` user to run PostgreSQL as")
            });
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .expect("hand the test directory to the postgres user");
        }
        let server = PgServer {
            dir,
            bin,
            run_as,
            owned,
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        server.start_again();
        Some(server)
    }

    /// Runs one of the PostgreSQL programs as the server's user; panics on failure.
    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}):\n{}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The directory of the server's Unix socket (the `host` to connect to).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the (stopped) server again and waits until it accepts connections.
    pub fn start_again(&self) {
        let opts = format!(
            "-k {} -c listen_addresses='' -p {PORT} -c fsync=off -c synchronous_commit=on \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB",
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.join("server.log").display().to_string(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: connections are cut, as on a
    /// crash of the database); [`start_again`](Self::start_again) brings it back.
    pub fn stop_immediate(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Creates a fresh, empty database; returns its name.
    pub fn create_database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        self.run(
            "createdb",
            &[
                "-h",
                &self.dir.display().to_string(),
                "-p",
                &PORT.to_string(),
                "-U",
                "postgres",
                &name,
            ],
        );
        name
    }

    /// A libpq-style connection string for database `db` over the Unix socket, as
    /// `[queue] url` takes it (`host=DIR port=5432 user=postgres dbname=DB`).
    pub fn conn_string(&self, db: &str) -> String {
        format!(
            "host={} port={PORT} user=postgres dbname={db}",
            self.dir.display()
        )
    }

    /// The same as a URL (`postgresql://postgres@/DB?host=DIR&port=5432`).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@/{db}?host={}&port={PORT}",
            self.dir.display()
        )
    }

    /// Stops the server and removes its directory once this process has exited.
    fn watchdog(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.display()
        );
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", "sh", "-c", &script]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", &script]);
                c
            }
        };
        // Never waited for: it outlives this process on purpose (init reaps it).
        #[allow(clippy::zombie_processes)]
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the PostgreSQL watchdog");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let _ = Command::new(match &self.run_as {
            Some(_) => PathBuf::from("runuser"),
            None => self.bin.join("pg_ctl"),
        })
        .args(match &self.run_as {
            Some(user) => vec![
                "-u".to_string(),
                user.clone(),
                "--".to_string(),
                self.bin.join("pg_ctl").display().to_string(),
            ],
            None => Vec::new(),
        })
        .args([
            "-D",
            &self.data().display().to_string(),
            "-m",
            "immediate",
            "stop",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
