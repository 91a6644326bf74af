//! The text form of a scripted timeline, one step per line, as the learner edits it:
//!
//! ```text
//! GET /sidebar/
//! GET /dashboard/ as user001
//! >>> a = Article.objects.published().first(); a.title = "New"; a.save()
//! +61 s
//! run tests
//! GET /publish/1/ on worker 1
//! GET /tasks/1/done/ on worker 2, 1 s into the previous
//! POST /tags/new/ with name=django&slug=django as user001 follow
//! GET / header User-Agent=mobile
//! ```
//!
//! A request line starts with its method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS);
//! `with a=1&b=2` is the query string (GET, HEAD) or the form body, `header Name=value` one
//! header each, `follow` follows redirects.
//!
//! Blank lines and `#` comments are skipped.

use crate::Step;

/// A line that is not a step: its 1-based number and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The longest clock move one step may make (a year); more is a typo.
pub const MAX_ADVANCE_SECONDS: f64 = 366.0 * 24.0 * 3600.0;

pub fn format(steps: &[Step]) -> String {
    let mut out = String::new();
    for s in steps {
        match s {
            Step::Get { url, user, worker, into_previous, http } => {
                let method = http.as_ref().map(|h| h.method.as_str()).unwrap_or("GET");
                out += &format!("{method} {url}");
                if let Some(h) = http {
                    if !h.data.is_empty() {
                        let pairs: Vec<String> = h.data.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        out += &format!(" with {}", pairs.join("&"));
                    }
                    for (k, v) in &h.headers {
                        out += &format!(" header {k}={v}");
                    }
                }
                if let Some(u) = user {
                    out += &format!(" as {u}");
                }
                if let Some(w) = worker {
                    out += &format!(" on worker {w}");
                }
                if http.as_ref().is_some_and(|h| h.follow) {
                    out += " follow";
                }
                if let Some(s) = into_previous {
                    out += &format!(", {s} s into the previous");
                }
                out += "\n";
            }
            // A shell line runs in the worker of the request before it (the text has no worker).
            Step::Run { code, .. } => out += &format!(">>> {}\n", code.replace('\n', "; ")),
            Step::Advance { seconds } => out += &format!("+{} s\n", seconds),
            Step::Test { .. } => out += "run tests\n",
        }
    }
    out
}

pub fn parse(text: &str) -> Result<Vec<Step>, ScriptError> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let fail = |message: String| Err(ScriptError { line: i + 1, message });
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(code) = line.strip_prefix(">>>") {
            let code = code.trim();
            if code.is_empty() {
                return fail("`>>>` needs a Python statement after it".into());
            }
            steps.push(Step::Run { code: code.to_string(), worker: None });
        } else if let Some((method, rest)) = crate::METHODS.iter().find_map(|m| strip_word(line, m).map(|r| (*m, r))) {
            // `…, 1 s into the previous`: this request starts while the previous one runs.
            // A comma inside the URL (`?ids=1,2`) is the URL's own.
            let (rest, into_previous) = match rest.rsplit_once(',') {
                Some((head, tail)) if head.trim().contains(char::is_whitespace) || tail.contains("previous") => match parse_into_previous(tail) {
                    Ok(s) => (head, Some(s)),
                    Err(m) => return fail(m),
                },
                _ => (rest, None),
            };
            let mut parts = rest.split_whitespace();
            let Some(url) = parts.next() else { return fail(format!("`{method}` needs a URL, like `{method} /articles/`")) };
            if !url.starts_with('/') {
                return fail(format!("the URL `{url}` must start with `/`"));
            }
            let words: Vec<&str> = parts.collect();
            let usage = "write `GET /url/`, `GET /url/ as username`, `GET /url/ on worker 2`, `POST /url/ with a=1&b=2`, `GET /url/ header User-Agent=mobile` or `POST /url/ follow`";
            let (mut user, mut worker) = (None, None);
            let mut http = crate::HttpExtra { method: method.to_string(), ..Default::default() };
            let mut rest = words.as_slice();
            loop {
                match rest {
                    [] => break,
                    ["as", u, more @ ..] if user.is_none() => {
                        user = Some(u.to_string());
                        rest = more;
                    }
                    ["with", pairs, more @ ..] if http.data.is_empty() => {
                        for pair in pairs.split('&').filter(|p| !p.is_empty()) {
                            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                            http.data.push((k.to_string(), v.to_string()));
                        }
                        rest = more;
                    }
                    ["header", h, more @ ..] => {
                        let Some((k, v)) = h.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                            return fail(format!("a header is written `header Name=value`; got `{h}`"));
                        };
                        http.headers.push((k.to_string(), v.to_string()));
                        rest = more;
                    }
                    ["follow", more @ ..] => {
                        http.follow = true;
                        rest = more;
                    }
                    ["on", "worker", n, more @ ..] if worker.is_none() => {
                        match n.parse::<u8>() {
                            Ok(w) if (1..=crate::MAX_WORKERS).contains(&w) => worker = Some(w),
                            _ => return fail(format!("there are workers 1 to {}; got `{n}`", crate::MAX_WORKERS)),
                        }
                        rest = more;
                    }
                    _ => return fail(usage.into()),
                }
            }
            let plain = http.method == "GET" && http.data.is_empty() && http.headers.is_empty() && !http.follow;
            steps.push(Step::Get { url: url.to_string(), user, worker, into_previous, http: (!plain).then_some(http) });
        } else if let Some(rest) = line.strip_prefix('+') {
            let number = rest.trim().trim_end_matches('s').trim();
            let seconds: f64 = match number.parse() {
                Ok(s) => s,
                Err(_) => return fail(format!("`{line}` is not a clock move; write `+61 s`")),
            };
            if !seconds.is_finite() || seconds <= 0.0 || seconds > MAX_ADVANCE_SECONDS {
                return fail(format!("the clock moves forward by more than 0 s and at most a year ({MAX_ADVANCE_SECONDS} s); got {number}"));
            }
            steps.push(Step::Advance { seconds });
        } else if line.eq_ignore_ascii_case("run tests") {
            steps.push(Step::Test { file: "tests.py".into() });
        } else {
            return fail(format!("`{line}` is not a step: start it with `GET /url/` (or another method), `>>> code`, `+N s` or write `run tests`"));
        }
    }
    Ok(steps)
}

/// The longest overlap one request may claim (a minute); more is a typo.
pub const MAX_INTO_PREVIOUS_SECONDS: f64 = 60.0;

/// ` 1 s into the previous` (after the comma of a GET line): seconds after the previous
/// request started.
fn parse_into_previous(tail: &str) -> Result<f64, String> {
    let usage = "after the comma write how far into the previous request this one starts, like `, 1 s into the previous`";
    let Some(number) = tail.trim().strip_suffix("into the previous") else { return Err(usage.into()) };
    let number = number.trim().trim_end_matches('s').trim();
    match number.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=MAX_INTO_PREVIOUS_SECONDS).contains(&s) => Ok(s),
        Ok(_) => Err(format!("a request starts 0 to {MAX_INTO_PREVIOUS_SECONDS} s into the previous one; got {number}")),
        Err(_) => Err(usage.into()),
    }
}

fn strip_word<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(word)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_kind_round_trips() {
        let steps = vec![
            Step::Get { url: "/sidebar/".into(), user: None, worker: None, into_previous: None, http: None },
            Step::Get { url: "/dashboard/?a=1".into(), user: Some("user001".into()), worker: None, into_previous: None, http: None },
            Step::Get { url: "/a/".into(), user: None, worker: Some(2), into_previous: None, http: None },
            Step::Get { url: "/a/".into(), user: Some("user002".into()), worker: Some(1), into_previous: None, http: None },
            Step::Get { url: "/tasks/1/done/".into(), user: None, worker: Some(2), into_previous: Some(1.0), http: None },
            Step::Get { url: "/b/".into(), user: Some("user001".into()), worker: None, into_previous: Some(0.25), http: None },
            Step::Run { code: "a = Article.objects.first(); a.save()".into(), worker: None },
            Step::Advance { seconds: 61.0 },
            Step::Advance { seconds: 0.5 },
            Step::Test { file: "tests.py".into() },
            Step::Get {
                url: "/tags/new/".into(),
                user: Some("user001".into()),
                worker: None,
                into_previous: None,
                http: Some(crate::HttpExtra { method: "POST".into(), data: vec![("name".into(), "x".into()), ("tag".into(), "a".into()), ("tag".into(), "b".into())], headers: vec![], follow: true }),
            },
            Step::Get {
                url: "/".into(),
                user: None,
                worker: None,
                into_previous: None,
                http: Some(crate::HttpExtra { method: "GET".into(), data: vec![], headers: vec![("User-Agent".into(), "mobile".into()), ("Accept".into(), "text/html".into())], follow: false }),
            },
            Step::Get { url: "/a/".into(), user: None, worker: None, into_previous: None, http: Some(crate::HttpExtra { method: "HEAD".into(), ..Default::default() }) },
        ];
        assert_eq!(parse(&format(&steps)).unwrap(), steps);
        assert_eq!(parse("GET /a/?ids=1,2").unwrap(), vec![Step::Get { url: "/a/?ids=1,2".into(), user: None, worker: None, into_previous: None, http: None }]);
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_spacing_is_loose() {
        let steps = parse("# warm the cache\n\n  GET   /a/  \n+300s\n>>>cache.clear()\n").unwrap();
        assert_eq!(steps, vec![Step::Get { url: "/a/".into(), user: None, worker: None, into_previous: None, http: None }, Step::Advance { seconds: 300.0 }, Step::Run { code: "cache.clear()".into(), worker: None }]);
    }

    #[test]
    fn mistakes_name_their_line() {
        for (text, line, needle) in [
            ("GET /a/\nFETCH /a/", 2, "is not a step"),
            ("POST /a/ header User-Agent", 1, "header Name=value"),
            ("POST /a/ with", 1, "as username"),
            ("GET", 1, "needs a URL"),
            ("GET articles/", 1, "must start with `/`"),
            ("GET /a/ for user001", 1, "as username"),
            ("\n\n+abc s", 3, "not a clock move"),
            ("+-5 s", 1, "forward"),
            ("+0 s", 1, "forward"),
            ("+1e12 s", 1, "at most a year"),
            ("+inf s", 1, "at most a year"),
            (">>>   ", 1, "needs a Python statement"),
            ("GETX /a/", 1, "is not a step"),
            ("GET /a/ on worker 3", 1, "workers 1 to 2"),
            ("GET /a/ on worker two", 1, "workers 1 to 2"),
            ("GET /a/ on server 2", 1, "on worker 2`"),
            ("GET /a/ on worker 2, 1 s later", 1, "into the previous`"),
            ("GET /a/, -1 s into the previous", 1, "0 to 60 s"),
            ("GET /a/, 3600 s into the previous", 1, "0 to 60 s"),
            ("GET /a/, soon into the previous", 1, "into the previous`"),
            ("GET /a/?ids=1,2 on worker 3", 1, "workers 1 to 2"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}
