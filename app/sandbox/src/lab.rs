//! The lab the worker hosts: it answers [`protocol::Request`]s with [`protocol::Response`]s.
//! Everything the browser does goes through here, so native tests of this module test what
//! the learner gets.
//!
//! The learner's work lives in one [`Session`]. Checks, comparisons and growth-chart points
//! each get a session of their own on fresh data ([`Images`]): afterwards the learner's data,
//! cache, clock and project are exactly as before.

use std::rc::Rc;

use protocol::lesson::Lab as LabSpec;
use protocol::{CompareSide, LabRun, Request, Response, Step};

use crate::clock;
use crate::error::{ErrorKind, SandboxError};
use crate::images::Images;
use crate::judge;
use crate::runtime::engine_error;
use crate::session::{error_info, Session, Size};

pub use crate::session::{REQUEST_BUDGET_MS, STATEMENT_BUDGET_MS, TEST_BUDGET_MS};

/// Finds a lesson's lab by its slug (the worker embeds the course; tests read `lessons/`).
pub type Course = Rc<dyn Fn(&str) -> Option<Rc<LabSpec>>>;

#[derive(Default)]
pub struct Lab {
    session: Option<Session>,
    images: Images,
    course: Option<Course>,
    /// The lesson whose goals the learner's step reports judge.
    lesson: Option<Rc<LabSpec>>,
    /// Requests served since the engine loaded (the first one runs cold code).
    served: u32,
}

impl Lab {
    pub fn new() -> Lab {
        Lab::default()
    }

    /// A lab that can judge the course's exercises (`Check` names a lesson by its slug).
    pub fn with_course(course: Course) -> Lab {
        Lab { course: Some(course), ..Lab::default() }
    }

    /// Articles (and tasks, when overridden) of the learner's database.
    pub fn size(&self) -> Option<Size> {
        self.session.as_ref().map(|s| s.size)
    }

    /// The learner's session (tests read its fingerprint and state).
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Handles one request; `send` may be called several times (progress, then the answer).
    pub fn handle(&mut self, req: Request, send: &mut dyn FnMut(Response)) {
        let id = req.id();
        let mut progress = |done: u32, total: u32| send(Response::Progress { id, done, total });
        let answer = match req {
            Request::Seed { articles, tasks, .. } => self.seed(id, (articles, tasks), &mut progress),
            Request::Load { project, fresh, lesson, .. } => {
                self.lesson = lesson.as_deref().and_then(|slug| self.course.as_ref().and_then(|c| c(slug)));
                self.load(id, project, fresh)
            }
            Request::Step { step, .. } => self.step(id, step),
            Request::Sql { sql, .. } => match self.session.as_mut() {
                None => not_seeded(id),
                Some(s) => match s.sql(&sql) {
                    Ok((columns, rows, query)) => Response::SqlResult { id, columns, rows, query },
                    Err(e) => error_response(id, e),
                },
            },
            Request::Check { lesson, exercise, attempt, .. } => {
                let Some(size) = self.size() else { return send(not_seeded(id)) };
                let lab = self.course.as_ref().and_then(|c| c(&lesson));
                match lab.as_ref().and_then(|l| l.project.as_ref()) {
                    Some(p) => Response::CheckResult { id, report: judge::check(&mut self.images, p, exercise, &attempt, size, &mut progress) },
                    None => error_response(id, SandboxError::new(ErrorKind::NotSupported, format!("there is no lab named '{lesson}' to check"))),
                }
            }
            Request::Compare { a, b, .. } => {
                let Some(size) = self.size() else { return send(not_seeded(id)) };
                progress(0, 2);
                let a = self.run_apart(size, a, true, &mut |_, _| {});
                progress(1, 2);
                let b = self.run_apart(size, b, true, &mut |_, _| {});
                Response::Compared { id, a, b }
            }
            Request::Measure { run, articles, tasks, .. } => Response::Measured { id, side: self.run_apart((articles, tasks), run, false, &mut progress) },
            Request::Explain { sql, .. } => match self.session.as_mut() {
                None => not_seeded(id),
                Some(s) => match s.explain(&sql) {
                    Ok(plan) => Response::Explained { id, plan },
                    Err(e) => error_response(id, e),
                },
            },
            Request::Fingerprint { .. } => match self.session.as_ref() {
                None => not_seeded(id),
                Some(s) => Response::Fingerprinted { id, digest: s.fingerprint() },
            },
            Request::CrashForTest { .. } => panic!("crash requested by the page (test hook)"),
            Request::StallForTest { ms, .. } => {
                let until = clock::monotonic_ms() + f64::from(ms);
                while clock::monotonic_ms() < until {}
                Response::Done { id }
            }
        };
        send(answer);
    }

    /// A new database for the learner: fresh data of `size` (from its image, seeded once).
    fn seed(&mut self, id: u64, size: Size, progress: &mut dyn FnMut(u32, u32)) -> Response {
        let start = clock::monotonic_ms();
        let seeded = match self.images.get(size, progress) {
            Ok((_, seeded)) => seeded,
            Err(e) => return error_response(id, engine_error(e)),
        };
        match self.images.session(size, &mut |_, _| {}) {
            Ok(session) => {
                self.session = Some(session);
                let c = seeded.counts;
                Response::Seeded {
                    id,
                    ms: clock::monotonic_ms() - start,
                    counts: vec![
                        ("users".into(), c.users as u64),
                        ("tags".into(), c.tags as u64),
                        ("articles".into(), c.articles as u64),
                        ("organizations".into(), c.organizations as u64),
                        ("tasks".into(), c.tasks as u64),
                    ],
                    schema_ms: c.schema_ms as f64,
                    built_in: seeded.built_in,
                }
            }
            Err(e) => error_response(id, engine_error(e)),
        }
    }

    /// Installs the learner's project; with `fresh`, on freshly seeded data first (a timeline).
    fn load(&mut self, id: u64, project: protocol::ProjectSpec, fresh: bool) -> Response {
        let Some(size) = self.size() else { return not_seeded(id) };
        if fresh {
            match self.images.session(size, &mut |_, _| {}) {
                Ok(s) => self.session = Some(s),
                Err(e) => return error_response(id, engine_error(e)),
            }
        }
        let session = self.session.as_mut().expect("checked above");
        session.served = self.served;
        match session.load(project) {
            Ok(l) => Response::Loaded { id, clock: l.clock, migrations: l.migrations },
            Err(e) => error_response(id, e),
        }
    }

    fn step(&mut self, id: u64, step: Step) -> Response {
        let Some(session) = self.session.as_mut() else { return not_seeded(id) };
        session.served = self.served;
        match session.step(step.clone()) {
            Ok(mut report) => {
                self.served = session.served;
                if let Some(lab) = &self.lesson {
                    report.goals = judge::goal_lines(lab, &step, &report);
                }
                Response::StepResult { id, report }
            }
            Err(e) => error_response(id, e),
        }
    }

    /// A lab run on fresh data of `size` in a session of its own, the last request measured
    /// (with each distinct statement's plan, for a comparison).
    fn run_apart(&mut self, size: Size, run: LabRun, plans: bool, progress: &mut dyn FnMut(u32, u32)) -> CompareSide {
        let mut session = match self.images.session(size, progress) {
            Ok(s) => s,
            Err(e) => return CompareSide { error: Some(error_info(engine_error(e))), ..Default::default() },
        };
        // Measured as warm as the learner's own requests.
        session.served = self.served.max(1);
        if let Err(e) = session.load(run.project) {
            return CompareSide { error: Some(error_info(e)), ..Default::default() };
        }
        let mut last: Option<protocol::StepReport> = None;
        for mut step in run.steps {
            if let (Step::Get { url, .. }, Some(prev)) = (&mut step, &last) {
                if url.contains("{output}") {
                    *url = url.replace("{output}", &protocol::encode_uri_component(prev.render.output.trim()));
                }
            }
            match session.step(step) {
                Ok(r) => last = Some(r),
                Err(e) => return CompareSide { error: Some(error_info(e)), ..Default::default() },
            }
        }
        let Some(report) = last else {
            return CompareSide { error: Some(error_info(SandboxError::new(ErrorKind::NotSupported, "nothing to compare: the lab sent no request"))), ..Default::default() };
        };
        let plans = if plans { session.plans(&report.render) } else { vec![] };
        CompareSide { status: report.status, error: report.error, plans, render: Some(report.render) }
    }
}

fn not_seeded(id: u64) -> Response {
    error_response(id, SandboxError::new(ErrorKind::DatabaseError, "the database is not loaded yet"))
}

pub fn error_response(id: u64, e: SandboxError) -> Response {
    Response::Error { id, error: error_info(e) }
}
