//! The SQL engine: `turso_core` (limbo) behind a small, panic-averse facade.
//!
//! Design choices, each measured on the project's machines:
//! - The engine's clock must not touch `std::time` in wasm, so the IO we hand it
//!   answers the clock from [`crate::clock`], which the worker points at JavaScript time.
//! - Preparing is the expensive part in wasm, and Django sends parameters apart from
//!   the SQL, so prepared statements are cached by SQL text and re-bound.
//! - Every statement runs under a work budget (the progress handler checks a deadline),
//!   so nothing a learner types keeps the engine busy for long.

use std::collections::HashMap;
use std::num::NonZero;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use turso_core::io::clock::{MonotonicInstant, WallClockInstant};
use turso_core::io::FileSyncType;
use turso_core::{
    Buffer, Clock, Completion, Connection, Database, File, MemoryIO, OpenFlags, Statement, StatementStatusCounter, StepResult, IO,
};

use crate::clock;

/// A value crossing the engine boundary (SQLite's storage classes).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    /// How Django's SQLite backend shows a parameter in `connection.queries`
    /// (it asks SQLite for `QUOTE(?)`).
    pub fn quoted(&self) -> String {
        match self {
            SqlValue::Null => "NULL".into(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Real(f) => format_real(*f),
            SqlValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
            SqlValue::Blob(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
                format!("X'{hex}'")
            }
        }
    }

    fn to_engine(&self) -> turso_core::Value {
        match self {
            SqlValue::Null => turso_core::Value::Null,
            SqlValue::Int(i) => turso_core::Value::from_i64(*i),
            SqlValue::Real(f) => turso_core::Value::from_f64(*f),
            SqlValue::Text(s) => turso_core::Value::from_text(s.clone()),
            SqlValue::Blob(b) => turso_core::Value::from_blob(b.clone()),
        }
    }

    fn from_engine(v: &turso_core::Value) -> SqlValue {
        match v {
            turso_core::Value::Null => SqlValue::Null,
            turso_core::Value::Numeric(turso_core::Numeric::Integer(i)) => SqlValue::Int(*i),
            turso_core::Value::Numeric(turso_core::Numeric::Float(f)) => SqlValue::Real(f64::from(*f)),
            turso_core::Value::Text(t) => SqlValue::Text(t.as_str().to_string()),
            turso_core::Value::Blob(b) => SqlValue::Blob(b.to_vec()),
        }
    }
}

/// The statement as the engine gets it: `BEGIN IMMEDIATE`/`EXCLUSIVE` become `BEGIN`. The lab
/// has one connection, so the lock mode only matters to the virtual write lock (`db::lock`),
/// and the engine's immediate mode reads a clock that panics in wasm (PLATFORM.md).
pub fn engine_form(sql: &str) -> &str {
    let mut words = sql.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_ascii_alphabetic()));
    let (first, second) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if first.eq_ignore_ascii_case("BEGIN") && (second.eq_ignore_ascii_case("IMMEDIATE") || second.eq_ignore_ascii_case("EXCLUSIVE")) {
        "BEGIN"
    } else {
        sql
    }
}

/// The SQL as Django's `connection.queries` shows it: each `%s` replaced by its quoted parameter
/// (the SQLite backend's `last_executed_query`: `sql % params`, or the SQL as written, `%%` and
/// all, when there are no parameters).
pub fn inline_params(sql: &str, params: &[SqlValue]) -> String {
    if params.is_empty() {
        return sql.to_string();
    }
    fill_params(sql, params, SqlValue::quoted)
}

/// Python's `sql % params`: each `%s` replaced by `shown(param)`, in order, and `%%` by `%` (a
/// `%s` left over stays).
pub fn fill_params(sql: &str, params: &[SqlValue], shown: impl Fn(&SqlValue) -> String) -> String {
    let mut it = params.iter();
    substitute(sql, |out| out.push_str(&it.next().map(&shown).unwrap_or_else(|| "%s".into())))
}

/// Python's `sql % tuple(params)` (`str(qs.query)`): each `%s` takes its parameter as str()
/// prints it, unquoted, and `%%` is `%`.
pub fn python_percent(sql: &str, params: &[SqlValue]) -> String {
    fill_params(sql, params, |p| match p {
        SqlValue::Text(t) => t.clone(),
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Real(f) => crate::pyfmt::python_float_repr(*f),
        SqlValue::Null => "None".into(),
        other => other.quoted(),
    })
}

/// The SQL the engine runs: `%s` as `?` and `%%` as `%` (the SQLite backend's `convert_query`).
pub fn engine_placeholders(sql: &str) -> String {
    substitute(sql, |out| out.push('?'))
}

fn substitute(sql: &str, mut param: impl FnMut(&mut String)) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.as_bytes().get(i + 1) {
            Some(b's') => param(&mut out),
            Some(b'%') => out.push('%'),
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
                continue;
            }
        }
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

/// SQLite prints reals with up to 15 significant digits and always a decimal point.
pub fn format_real(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// The deterministic cost of one statement, read from the engine's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StmtCounters {
    pub rows_read: u64,
    pub fullscan_steps: u64,
    pub sorts: u64,
    pub vm_steps: u64,
}

/// The outcome of running one statement.
#[derive(Debug, Clone)]
pub struct StmtResult {
    pub rows: Vec<Vec<SqlValue>>,
    pub ms: f64,
    pub counters: StmtCounters,
    /// Rows an INSERT/UPDATE/DELETE changed.
    pub changes: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineError {
    /// The SQL was refused before it reached the engine (it would crash or escape the sandbox).
    Refused(String),
    /// The statement ran past its work budget and was stopped.
    Budget { ms: f64 },
    /// Anything the engine itself reported.
    Sql(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Refused(why) => write!(f, "refused: {why}"),
            EngineError::Budget { ms } => write!(
                f,
                "stopped after {ms:.0} ms: the statement ran past the sandbox's work budget"
            ),
            EngineError::Sql(msg) => write!(f, "{msg}"),
        }
    }
}

/// IO for the engine: files in memory, clock from [`crate::clock`].
///
/// The files are pages shared copy-on-write: an [`Image`] of a database is a copy of the page
/// table (not of the pages), and a database opened from it copies a page only when it writes
/// it. A freshly seeded database is kept as an image, and every check, comparison and sweep
/// point opens its own copy in microseconds instead of seeding again.
struct SandboxIo {
    files: Mutex<HashMap<String, Arc<CowFile>>>,
    mem: Arc<MemoryIO>,
}

const PAGE: usize = 4096;

#[derive(Clone, Default)]
struct Pages {
    pages: std::collections::BTreeMap<usize, Arc<[u8; PAGE]>>,
    size: u64,
}

struct CowFile {
    inner: RwLock<Pages>,
}

impl CowFile {
    fn read_into(&self, pos: u64, dst: &mut [u8]) -> usize {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if pos >= inner.size || dst.is_empty() {
            return 0;
        }
        let len = (dst.len() as u64).min(inner.size - pos) as usize;
        let (mut off, mut done) = (pos as usize, 0);
        while done < len {
            let (page, at) = (off / PAGE, off % PAGE);
            let n = (len - done).min(PAGE - at);
            match inner.pages.get(&page) {
                Some(p) => dst[done..done + n].copy_from_slice(&p[at..at + n]),
                None => dst[done..done + n].fill(0),
            }
            off += n;
            done += n;
        }
        len
    }

    fn write_at(inner: &mut Pages, pos: u64, data: &[u8]) -> usize {
        let (mut off, mut done) = (pos as usize, 0);
        while done < data.len() {
            let (page, at) = (off / PAGE, off % PAGE);
            let n = (data.len() - done).min(PAGE - at);
            let p = inner.pages.entry(page).or_insert_with(|| Arc::new([0; PAGE]));
            Arc::make_mut(p)[at..at + n].copy_from_slice(&data[done..done + n]);
            off += n;
            done += n;
        }
        inner.size = inner.size.max(pos + data.len() as u64);
        data.len()
    }
}

impl File for CowFile {
    fn lock_file(&self, _exclusive: bool) -> turso_core::Result<()> {
        Ok(())
    }
    fn unlock_file(&self) -> turso_core::Result<()> {
        Ok(())
    }
    fn pread(&self, pos: u64, c: Completion) -> turso_core::Result<Completion> {
        let n = self.read_into(pos, c.as_read().buf().as_mut_slice());
        c.complete(n as i32);
        Ok(c)
    }
    fn pwrite(&self, pos: u64, buffer: Arc<Buffer>, c: Completion) -> turso_core::Result<Completion> {
        let n = CowFile::write_at(&mut self.inner.write().unwrap_or_else(|e| e.into_inner()), pos, buffer.as_slice());
        c.complete(n as i32);
        Ok(c)
    }
    fn pwritev(&self, pos: u64, buffers: Vec<Arc<Buffer>>, c: Completion) -> turso_core::Result<Completion> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let mut at = pos;
        let mut total = 0;
        for b in &buffers {
            let n = CowFile::write_at(&mut inner, at, b.as_slice());
            at += n as u64;
            total += n;
        }
        c.complete(total as i32);
        Ok(c)
    }
    fn sync(&self, c: Completion, _sync_type: FileSyncType) -> turso_core::Result<Completion> {
        c.complete(0);
        Ok(c)
    }
    fn size(&self) -> turso_core::Result<u64> {
        Ok(self.inner.read().unwrap_or_else(|e| e.into_inner()).size)
    }
    fn truncate(&self, len: u64, c: Completion) -> turso_core::Result<Completion> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if len < inner.size {
            inner.pages.retain(|&k, _| (k * PAGE) < len as usize);
        }
        inner.size = len;
        c.complete(0);
        Ok(c)
    }
}

/// A database's files at one moment: the page tables, sharing their pages with the database
/// they were taken from (see [`SandboxIo`]).
#[derive(Clone)]
pub struct Image {
    files: Vec<(String, Pages)>,
}

/// The first bytes of [`Image::to_bytes`].
const IMAGE_MAGIC: &[u8; 8] = b"DJPLIMG1";

impl Image {
    /// Bytes the image's pages hold.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, p)| p.size).sum()
    }

    /// Bytes in its write-ahead log (none once checkpointed).
    pub fn log_bytes(&self) -> u64 {
        self.files.iter().filter(|(name, _)| name.ends_with("-wal")).map(|(_, p)| p.size).sum()
    }

    /// The image as bytes (a database shipped with the app, see `images.rs`): the magic, then
    /// per file (sorted by name) its name, size and pages, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut files: Vec<&(String, Pages)> = self.files.iter().collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = IMAGE_MAGIC.to_vec();
        out.extend((files.len() as u32).to_le_bytes());
        for (name, p) in files {
            out.extend((name.len() as u32).to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(p.size.to_le_bytes());
            out.extend((p.pages.len() as u32).to_le_bytes());
            for (k, page) in &p.pages {
                out.extend((*k as u32).to_le_bytes());
                out.extend(page.as_slice());
            }
        }
        out
    }

    /// An image from [`Image::to_bytes`]; a clear error for anything else.
    pub fn from_bytes(b: &[u8]) -> Result<Image, EngineError> {
        let bad = || EngineError::Sql("not a database image (or a damaged one)".into());
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], EngineError> {
            let s = b.get(at..at + n).ok_or_else(bad)?;
            at += n;
            Ok(s)
        };
        if take(8)? != IMAGE_MAGIC {
            return Err(bad());
        }
        let u32_at = |s: &[u8]| u32::from_le_bytes(s.try_into().expect("4 bytes")) as usize;
        let n = u32_at(take(4)?);
        let mut files = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            let len = u32_at(take(4)?);
            let name = String::from_utf8(take(len)?.to_vec()).map_err(|_| bad())?;
            let size = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
            let count = u32_at(take(4)?);
            let mut pages = std::collections::BTreeMap::new();
            for _ in 0..count {
                let k = u32_at(take(4)?);
                let page: [u8; PAGE] = take(PAGE)?.try_into().expect("a page");
                pages.insert(k, Arc::new(page));
            }
            files.push((name, Pages { pages, size }));
        }
        if at != b.len() {
            return Err(bad());
        }
        Ok(Image { files })
    }
}

impl Clock for SandboxIo {
    fn current_time_monotonic(&self) -> MonotonicInstant {
        MonotonicInstant::from_nanos((clock::monotonic_ms() * 1e6) as u128)
    }
    fn current_time_wall_clock(&self) -> WallClockInstant {
        let ms = clock::wall_ms();
        WallClockInstant {
            secs: (ms / 1000.0).floor() as i64,
            micros: ((ms.rem_euclid(1000.0)) * 1000.0) as u32,
        }
    }
}

impl IO for SandboxIo {
    fn open_file(&self, path: &str, _flags: OpenFlags, _direct: bool) -> turso_core::Result<Arc<dyn File>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let f = files.entry(path.to_string()).or_insert_with(|| Arc::new(CowFile { inner: RwLock::new(Pages::default()) }));
        Ok(f.clone())
    }
    fn remove_file(&self, path: &str) -> turso_core::Result<()> {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
        Ok(())
    }
    fn step(&self) -> turso_core::Result<()> {
        self.mem.step()
    }
    fn generate_random_number(&self) -> i64 {
        // Deterministic: the sandbox promises same input, same output.
        42
    }
    fn fill_bytes(&self, dest: &mut [u8]) {
        dest.fill(7);
    }
    fn get_memory_io(&self) -> Arc<MemoryIO> {
        self.mem.clone()
    }
}

/// Default budget for one statement, in milliseconds of engine time.
pub const DEFAULT_BUDGET_MS: f64 = 1000.0;

pub struct Engine {
    /// The memory IO's files (none for a file database).
    io: Option<Arc<SandboxIo>>,
    _db: Arc<Database>,
    conn: Arc<Connection>,
    stmts: HashMap<String, Statement>,
    /// Deadline of the running statement, as `f64` bits of `clock::monotonic_ms()`.
    deadline: Arc<AtomicU64>,
    pub budget_ms: f64,
    /// The private copy a file database runs on, removed when the engine goes.
    temp_dir: Option<std::path::PathBuf>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stmts.clear();
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Engine {
    /// A fresh in-memory database.
    pub fn open_memory() -> Result<Engine, EngineError> {
        Self::open_io(HashMap::new())
    }

    fn open_io(files: HashMap<String, Arc<CowFile>>) -> Result<Engine, EngineError> {
        let sio = Arc::new(SandboxIo { files: Mutex::new(files), mem: Arc::new(MemoryIO::new()) });
        let io: Arc<dyn IO> = sio.clone();
        let db = Database::open_file(io, ":memory:", Arc::new(turso_core::SqliteDialect))
            .map_err(|e| EngineError::Sql(e.to_string()))?;
        let mut engine = Self::from_db(db)?;
        engine.io = Some(sio);
        Ok(engine)
    }

    /// The database as it is now, to open copies of with [`Engine::from_image`]. Taken between
    /// statements, with no transaction open.
    pub fn image(&mut self) -> Result<Image, EngineError> {
        let io = self.io.as_ref().ok_or_else(|| EngineError::Sql("only a memory database has an image".into()))?;
        // Until a checkpoint, written pages live in the write-ahead log: imaged that way, every
        // database opened from the image would scan the whole log to find its pages (a freshly
        // seeded 100,000 tasks: a 24 MB image instead of 10 MB, opened ten times slower).
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").map_err(|e| self.map_err(e))?;
        let files = io.files.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Image { files: files.iter().map(|(k, f)| (k.clone(), f.inner.read().unwrap_or_else(|e| e.into_inner()).clone())).collect() })
    }

    /// A new database whose content is the image's (its pages shared until written).
    pub fn from_image(image: &Image) -> Result<Engine, EngineError> {
        let files = image.files.iter().map(|(k, p)| (k.clone(), Arc::new(CowFile { inner: RwLock::new(p.clone()) }))).collect();
        Self::open_io(files)
    }

    /// A database file on disk (native only): it is copied first, so the original is never changed.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_file_copy(path: &std::path::Path) -> Result<Engine, EngineError> {
        let bytes = std::fs::read(path)
            .map_err(|e| EngineError::Sql(format!("cannot read {}: {e}", path.display())))?;
        let dir = std::env::temp_dir().join(format!("sandbox-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::Sql(e.to_string()))?;
        let copy = dir.join("db.sqlite3");
        std::fs::write(&copy, bytes).map_err(|e| EngineError::Sql(e.to_string()))?;
        let io: Arc<dyn IO> = Arc::new(
            turso_core::PlatformIO::new().map_err(|e| EngineError::Sql(e.to_string()))?,
        );
        let db = match Database::open_file(io, copy.to_str().unwrap_or_default(), Arc::new(turso_core::SqliteDialect)) {
            Ok(db) => db,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(EngineError::Sql(format!("cannot open {}: {e}", path.display())));
            }
        };
        let mut engine = Self::from_db(db)?;
        engine.temp_dir = Some(dir);
        Ok(engine)
    }

    /// In the browser there are no files to open.
    #[cfg(target_arch = "wasm32")]
    pub fn open_file_copy(path: &std::path::Path) -> Result<Engine, EngineError> {
        Err(EngineError::Sql(format!("cannot open {}: the browser build has no file system", path.display())))
    }

    fn from_db(db: Arc<Database>) -> Result<Engine, EngineError> {
        let conn = db.connect().map_err(|e| EngineError::Sql(e.to_string()))?;
        let deadline = Arc::new(AtomicU64::new(f64::INFINITY.to_bits()));
        let d = deadline.clone();
        // Checked every 10k VM steps: cheap, and fine-grained enough to stop within milliseconds.
        conn.set_progress_handler(
            10_000,
            Some(Box::new(move || clock::monotonic_ms() > f64::from_bits(d.load(Ordering::Relaxed)))),
        );
        // Django's SQLite backend turns foreign keys on for every connection.
        let _ = conn.execute("PRAGMA foreign_keys = ON");
        Ok(Engine { io: None, _db: db, conn, stmts: HashMap::new(), deadline, budget_ms: DEFAULT_BUDGET_MS, temp_dir: None })
    }

    /// Runs SQL that may be several statements and returns nothing (DDL, seeding).
    pub fn execute_batch(&mut self, sql: &str) -> Result<(), EngineError> {
        self.arm();
        let deadline = f64::from_bits(self.deadline.load(Ordering::Relaxed));
        // Stopped by the budget, the engine may report the interrupted write as "busy".
        let r = self.conn.execute(sql).map_err(|e| if clock::monotonic_ms() > deadline { EngineError::Budget { ms: self.budget_ms } } else { self.map_err(e) });
        self.disarm();
        // Schema changes invalidate cached statements.
        self.stmts.clear();
        r
    }

    /// Runs one statement with parameters bound to its `?` placeholders.
    pub fn run(&mut self, sql: &str, params: &[SqlValue]) -> Result<StmtResult, EngineError> {
        let start = clock::monotonic_ms();
        if !self.stmts.contains_key(sql) {
            let stmt = self.conn.prepare(sql).map_err(|e| EngineError::Sql(e.to_string()))?;
            self.stmts.insert(sql.to_string(), stmt);
        }
        let budget = self.budget_ms;
        self.deadline.store((start + budget).to_bits(), Ordering::Relaxed);
        let stmt = self.stmts.get_mut(sql).expect("inserted above");
        let outcome = run_prepared(stmt, params);
        let ms = clock::monotonic_ms() - start;
        self.disarm();
        let stmt = self.stmts.get_mut(sql).expect("inserted above");
        let counters = StmtCounters {
            rows_read: stmt.stmt_status(StatementStatusCounter::RowsRead),
            fullscan_steps: stmt.stmt_status(StatementStatusCounter::FullscanStep),
            sorts: stmt.stmt_status(StatementStatusCounter::Sort),
            vm_steps: stmt.stmt_status(StatementStatusCounter::VmStep),
        };
        let _ = stmt.reset();
        for c in [
            StatementStatusCounter::RowsRead,
            StatementStatusCounter::FullscanStep,
            StatementStatusCounter::Sort,
            StatementStatusCounter::VmStep,
        ] {
            stmt.reset_stmt_status(c);
        }
        let result = match outcome {
            Ok(rows) => Ok(StmtResult { rows, ms, counters, changes: self.conn.changes() }),
            Err(Interrupted) => {
                // Only the budget's progress handler interrupts. A statement stopped mid-write
                // must not leave a transaction open behind it.
                self.stmts.remove(sql);
                let _ = self.conn.execute("ROLLBACK");
                Err(EngineError::Budget { ms })
            }
            Err(Failed(msg)) => {
                self.stmts.remove(sql);
                Err(EngineError::Sql(msg))
            }
        };
        // A schema change through `run` (the SQL console, a cursor in the shell) invalidates
        // cached statements too: their plans were made for the old schema.
        let first_word = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("").to_ascii_uppercase();
        if matches!(first_word.as_str(), "CREATE" | "DROP" | "ALTER" | "REINDEX" | "ANALYZE") {
            self.stmts.clear();
        }
        result
    }

    /// The column names of a statement that ran (the ORM knows its columns; the SQL console asks).
    pub fn columns(&self, sql: &str) -> Vec<String> {
        match self.stmts.get(sql) {
            Some(stmt) => (0..stmt.num_columns()).map(|i| stmt.get_column_name(i).to_string()).collect(),
            None => vec![],
        }
    }

    fn arm(&self) {
        self.deadline
            .store((clock::monotonic_ms() + self.budget_ms).to_bits(), Ordering::Relaxed);
    }
    fn disarm(&self) {
        self.deadline.store(f64::INFINITY.to_bits(), Ordering::Relaxed);
    }
    fn map_err(&self, e: turso_core::LimboError) -> EngineError {
        match e {
            turso_core::LimboError::Interrupt => EngineError::Budget { ms: self.budget_ms },
            other => EngineError::Sql(other.to_string()),
        }
    }
}

enum RunError {
    Interrupted,
    Failed(String),
}
use RunError::{Failed, Interrupted};

fn run_prepared(stmt: &mut Statement, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, RunError> {
    let _ = stmt.reset();
    stmt.clear_bindings();
    for (i, p) in params.iter().enumerate() {
        let idx = NonZero::new(i + 1).expect("i + 1 > 0");
        stmt.bind_at(idx, p.to_engine()).map_err(|e| Failed(e.to_string()))?;
    }
    let mut rows = Vec::new();
    loop {
        match stmt.step() {
            Ok(StepResult::Row) => {
                if let Some(row) = stmt.row() {
                    rows.push(row.get_values().map(SqlValue::from_engine).collect());
                }
            }
            Ok(StepResult::Done) => return Ok(rows),
            Ok(StepResult::IO) | Ok(StepResult::Yield) | Ok(StepResult::Sleep { .. }) => {
                stmt._io().step().map_err(|e| Failed(e.to_string()))?;
            }
            Ok(StepResult::Interrupt) => return Err(Interrupted),
            Ok(StepResult::Busy) => return Err(Failed("database is busy".into())),
            Err(turso_core::LimboError::Interrupt) => return Err(Interrupted),
            Err(e) => return Err(Failed(e.to_string())),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn unique() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The one statement `sql` holds (trimmed, a final `;` dropped), or None when there are more.
pub fn single_statement(sql: &str) -> Option<&str> {
    let trimmed = sql.trim().trim_end_matches(';');
    (!trimmed.contains(';')).then_some(trimmed)
}

/// SQL that must never reach the engine from a learner: it crashes the engine in wasm
/// (time read straight from `std::time`), or reaches outside the sandbox.
/// Returns a message pointing at the offending text.
pub fn refuse_unsafe_sql(sql: &str) -> Result<(), EngineError> {
    let lower = sql.to_ascii_lowercase();
    let squeezed: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    const TIME: [(&str, &str); 4] = [
        ("current_timestamp", "CURRENT_TIMESTAMP"),
        ("current_date", "CURRENT_DATE"),
        ("current_time", "CURRENT_TIME"),
        ("'now'", "'now'"),
    ];
    for (needle, shown) in TIME {
        if squeezed.contains(needle) {
            return Err(EngineError::Refused(format!(
                "{shown}: the sandbox has no wall clock inside the engine; use an explicit timestamp such as '2024-01-01 12:00:00'"
            )));
        }
    }
    // The engine's BEGIN IMMEDIATE/EXCLUSIVE reads a clock that panics in wasm; one
    // connection has no one to lock out anyway.
    let mut words = lower.split_whitespace();
    if words.next() == Some("begin") {
        if let Some(mode @ ("immediate" | "exclusive")) = words.next() {
            return Err(EngineError::Refused(format!(
                "BEGIN {}: the sandbox's database has one connection, so there is no one to lock out; use BEGIN (Django's \"transaction_mode\" option is honoured by the lab's request timeline)",
                mode.to_ascii_uppercase()
            )));
        }
    }
    for (needle, shown) in [("attach", "ATTACH"), ("detach", "DETACH"), ("vacuum", "VACUUM"), ("writable_schema", "PRAGMA writable_schema"), ("load_extension", "load_extension")] {
        if contains_word(&lower, needle) {
            return Err(EngineError::Refused(format!("{shown} is not available in the sandbox")));
        }
    }
    // A huge blob is allocated at once inside the engine: in a browser that is an out-of-memory abort.
    for func in ["zeroblob(", "randomblob("] {
        let mut rest = squeezed.as_str();
        while let Some(i) = rest.find(func) {
            let digits: String = rest[i + func.len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.len() > 8 || digits.parse::<u64>().is_ok_and(|n| n > 10_000_000) {
                return Err(EngineError::Refused(format!("{}{digits}): the sandbox allows blobs up to 10,000,000 bytes", &func)));
            }
            rest = &rest[i + func.len()..];
        }
    }
    Ok(())
}

fn contains_word(hay: &str, word: &str) -> bool {
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(pos) = hay[from..].find(word) {
        let start = from + pos;
        let end = start + word.len();
        let before = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let after = end >= bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        if before && after {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_counts_a_scan_then_a_search() {
        let mut e = Engine::open_memory().unwrap();
        e.execute_batch("CREATE TABLE t (id integer primary key, slug text); ").unwrap();
        e.execute_batch("BEGIN").unwrap();
        for i in 0..500 {
            e.run("INSERT INTO t (slug) VALUES (?)", &[SqlValue::Text(format!("s{i}"))]).unwrap();
        }
        e.execute_batch("COMMIT").unwrap();
        let scan = e.run("SELECT id FROM t WHERE slug = ?", &[SqlValue::Text("s250".into())]).unwrap();
        assert_eq!(scan.rows, vec![vec![SqlValue::Int(251)]]);
        assert!(scan.counters.rows_read >= 500, "{:?}", scan.counters);
        e.execute_batch("CREATE INDEX t_slug ON t (slug)").unwrap();
        let search = e.run("SELECT id FROM t WHERE slug = ?", &[SqlValue::Text("s250".into())]).unwrap();
        assert_eq!(search.rows, scan.rows);
        assert!(search.counters.rows_read < 5, "{:?}", search.counters);
        let plan = e.run("EXPLAIN QUERY PLAN SELECT id FROM t WHERE slug = ?", &[SqlValue::Text("x".into())]).unwrap();
        let detail = format!("{:?}", plan.rows);
        assert!(detail.contains("USING INDEX t_slug") || detail.contains("USING COVERING INDEX t_slug"), "{detail}");
    }

    #[test]
    fn an_image_opens_as_an_independent_copy() {
        let mut e = Engine::open_memory().unwrap();
        e.execute_batch("CREATE TABLE t (id integer primary key, slug text); CREATE INDEX t_slug ON t (slug);").unwrap();
        e.execute_batch("BEGIN").unwrap();
        for i in 0..3000 {
            e.run("INSERT INTO t (slug) VALUES (?)", &[SqlValue::Text(format!("s{i}"))]).unwrap();
        }
        e.execute_batch("COMMIT").unwrap();
        let image = e.image().unwrap();
        assert!(image.bytes() > 0);
        assert_eq!(image.log_bytes(), 0, "an image is taken after a checkpoint");
        let mut a = Engine::from_image(&image).unwrap();
        let mut b = Engine::from_image(&image).unwrap();
        let count = |e: &mut Engine| e.run("SELECT count(*) FROM t", &[]).unwrap().rows[0][0].clone();
        assert_eq!(count(&mut a), SqlValue::Int(3000));
        a.run("DELETE FROM t WHERE id > 10", &[]).unwrap();
        a.execute_batch("CREATE TABLE other (x)").unwrap();
        assert_eq!(count(&mut a), SqlValue::Int(10));
        assert_eq!(count(&mut b), SqlValue::Int(3000), "a copy's writes stay in that copy");
        assert_eq!(count(&mut e), SqlValue::Int(3000), "and never reach the original");
        let found = b.run("SELECT id FROM t WHERE slug = ?", &[SqlValue::Text("s2500".into())]).unwrap();
        assert_eq!(found.rows, vec![vec![SqlValue::Int(2501)]]);
        assert!(found.counters.rows_read < 5, "the index came along: {:?}", found.counters);
        b.run("INSERT INTO t (slug) VALUES ('new')", &[]).unwrap();
        assert_eq!(count(&mut b), SqlValue::Int(3001));
    }

    #[test]
    fn runaway_statement_is_stopped_and_connection_still_works() {
        let mut e = Engine::open_memory().unwrap();
        e.budget_ms = 50.0;
        let err = e
            .run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", &[])
            .unwrap_err();
        assert!(matches!(err, EngineError::Budget { .. }), "{err:?}");
        let ok = e.run("SELECT 1 + 1", &[]).unwrap();
        assert_eq!(ok.rows, vec![vec![SqlValue::Int(2)]]);
    }

    #[test]
    fn bad_sql_is_an_error_not_a_panic() {
        let mut e = Engine::open_memory().unwrap();
        let err = e.run("SELEC 1", &[]).unwrap_err();
        assert!(matches!(err, EngineError::Sql(_)));
        let err = e.run("SELECT * FROM missing_table", &[]).unwrap_err();
        assert!(err.to_string().contains("missing_table"), "{err}");
    }

    #[test]
    fn time_functions_are_refused_before_the_engine() {
        for sql in ["SELECT datetime('now')", "select CURRENT_TIMESTAMP", "SELECT date( 'now' )", "ATTACH 'x' AS y", "VACUUM INTO 'x'", "PRAGMA writable_schema = 1", "BEGIN IMMEDIATE", "begin  exclusive transaction"] {
            assert!(matches!(refuse_unsafe_sql(sql), Err(EngineError::Refused(_))), "{sql}");
        }
        assert!(refuse_unsafe_sql("SELECT * FROM articles_article WHERE title = 'attachment'").is_ok());
        assert!(refuse_unsafe_sql("BEGIN").is_ok() && refuse_unsafe_sql("BEGIN DEFERRED").is_ok());
        assert!(refuse_unsafe_sql("SELECT zeroblob(999999999)").is_err());
        assert!(refuse_unsafe_sql("SELECT length(randomblob(1000000))").is_ok());
    }

    #[test]
    fn quoted_params_look_like_djangos_log() {
        assert_eq!(SqlValue::Text("it's".into()).quoted(), "'it''s'");
        assert_eq!(SqlValue::Int(8).quoted(), "8");
        assert_eq!(SqlValue::Null.quoted(), "NULL");
    }
}
