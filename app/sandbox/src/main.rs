//! `sandbox run-cases --db PATH CASES.json`: the headless contract for tests and benchmarks.

use std::process::ExitCode;

use sandbox::cases::{run_case, Case};
use sandbox::engine::Engine;
use sandbox::runtime::Rt;

const USAGE: &str = "usage: sandbox run-cases --db PATH CASES.json";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sandbox: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut db = None;
    let mut cases_path = None;
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("run-cases") => {}
        _ => return Err(USAGE.into()),
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--db" => db = Some(it.next().ok_or(USAGE)?.clone()),
            other if cases_path.is_none() && !other.starts_with("--") => cases_path = Some(other.to_string()),
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    let (db, cases_path) = (db.ok_or(USAGE)?, cases_path.ok_or(USAGE)?);
    let text = std::fs::read_to_string(&cases_path).map_err(|e| format!("cannot read {cases_path}: {e}"))?;
    let cases: Vec<Case> = serde_json::from_str(&text).map_err(|e| format!("{cases_path} is not a JSON array of cases: {e}"))?;
    let engine = Engine::open_file_copy(std::path::Path::new(&db)).map_err(|e| e.to_string())?;
    let rt = Rt::new(engine);
    let results: Vec<_> = cases.iter().map(|c| run_case(&rt, c)).collect();
    println!("{}", serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?);
    Ok(())
}
