//! `path()` routes with converters (`<int:pk>`, `<slug:slug>`, `<str:name>`, `<path:rest>`,
//! `<uuid:id>`), resolution in order, and `reverse()` with namespaces, with Django's
//! `NoReverseMatch` messages.

use crate::error::{exc, SResult};
use crate::value::Val;

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Lit(String),
    Conv { name: String, conv: String },
}

#[derive(Clone, Debug)]
pub struct Route {
    pub route: String,
    pub view: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    parts: Vec<Part>,
}

/// The regex Django shows for a converter in `NoReverseMatch` messages.
fn conv_regex(conv: &str) -> &'static str {
    match conv {
        "int" => "[0-9]+",
        "slug" => "[-a-zA-Z0-9_]+",
        "path" => ".+",
        "uuid" => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        _ => "[^/]+",
    }
}

fn conv_matches(conv: &str, s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    match conv {
        "int" => s.bytes().all(|b| b.is_ascii_digit()),
        "slug" => s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "path" => true,
        "uuid" => {
            let parts: Vec<&str> = s.split('-').collect();
            parts.len() == 5
                && [8, 4, 4, 4, 12].iter().zip(parts.iter()).all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        }
        _ => !s.contains('/'),
    }
}

impl Route {
    pub fn new(route: &str, view: &str, full_name: Option<&str>) -> Result<Route, String> {
        let mut parts = Vec::new();
        let mut rest = route;
        while let Some(i) = rest.find('<') {
            if i > 0 {
                parts.push(Part::Lit(rest[..i].to_string()));
            }
            let close = rest[i..].find('>').ok_or_else(|| format!("URL route '{route}' has an unclosed '<'"))? + i;
            let inner = &rest[i + 1..close];
            let (conv, name) = match inner.split_once(':') {
                Some((c, n)) => (c.to_string(), n.to_string()),
                None => ("str".to_string(), inner.to_string()),
            };
            if !matches!(conv.as_str(), "int" | "str" | "slug" | "path" | "uuid") {
                return Err(format!("URL route '{route}' uses invalid converter '{conv}'."));
            }
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                return Err(format!("URL route '{route}' uses parameter name '{name}' which isn't a valid Python identifier."));
            }
            parts.push(Part::Conv { name, conv });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        let (namespace, name) = match full_name {
            None => (None, None),
            Some(n) => match n.rsplit_once(':') {
                Some((ns, name)) => (Some(ns.to_string()), Some(name.to_string())),
                None => (None, Some(n.to_string())),
            },
        };
        Ok(Route { route: route.to_string(), view: view.to_string(), namespace, name, parts })
    }

    /// Matches the whole path (without its leading `/`): the captured (name, value) pairs.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, Val)>> {
        fn go(parts: &[Part], s: &str, out: &mut Vec<(String, Val)>) -> bool {
            match parts.split_first() {
                None => s.is_empty(),
                Some((Part::Lit(l), rest)) => s.strip_prefix(l.as_str()).is_some_and(|r| go(rest, r, out)),
                Some((Part::Conv { name, conv }, rest)) => {
                    // Try the longest candidate first (regexes are greedy), then shorter ones.
                    let mut ends: Vec<usize> = s.char_indices().map(|(i, _)| i).skip(1).collect();
                    ends.push(s.len());
                    for end in ends.into_iter().rev() {
                        let cand = &s[..end];
                        if !conv_matches(conv, cand) {
                            continue;
                        }
                        let val = if conv == "int" {
                            match cand.parse::<i64>() {
                                Ok(i) => Val::Int(i),
                                Err(_) => continue,
                            }
                        } else {
                            Val::str(cand)
                        };
                        out.push((name.clone(), val));
                        if go(rest, &s[end..], out) {
                            return true;
                        }
                        out.pop();
                    }
                    false
                }
            }
        }
        let mut out = Vec::new();
        go(&self.parts, path, &mut out).then_some(out)
    }

    /// Django's display of the pattern in `NoReverseMatch` (`'articles/(?P<slug>[-a-zA-Z0-9_]+)/\\Z'`).
    fn regex_text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(&regex_escape(l)),
                Part::Conv { name, conv } => s.push_str(&format!("(?P<{name}>{})", conv_regex(conv))),
            }
        }
        format!("{s}\\\\Z")
    }

    fn params(&self) -> Vec<(&str, &str)> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Conv { name, conv } => Some((name.as_str(), conv.as_str())),
                _ => None,
            })
            .collect()
    }

    fn build(&self, values: &[(String, String)]) -> Option<String> {
        let mut s = String::from("/");
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Conv { name, conv } => {
                    let v = &values.iter().find(|(n, _)| n == name)?.1;
                    if !conv_matches(conv, v) {
                        return None;
                    }
                    s.push_str(&quote_path(v));
                }
            }
        }
        Some(s)
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if ".^$*+?{}[]\\|()".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `iri_to_uri`/quote for a path segment value.
fn quote_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'@' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => out.push(b as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The project's URL configuration.
#[derive(Clone, Debug, Default)]
pub struct UrlConf {
    pub routes: Vec<Route>,
}

impl UrlConf {
    pub fn resolve(&self, path: &str) -> Option<(&Route, Vec<(String, Val)>)> {
        let p = path.strip_prefix('/').unwrap_or(path);
        self.routes.iter().find_map(|r| r.matches(p).map(|kw| (r, kw)))
    }

    /// `reverse(viewname, args=..., kwargs=...)`.
    pub fn reverse(&self, viewname: &str, args: &[String], kwargs: &[(String, String)]) -> SResult<String> {
        let (ns, name) = match viewname.rsplit_once(':') {
            Some((ns, n)) => (Some(ns), n),
            None => (None, viewname),
        };
        if let Some(ns) = ns {
            if !self.routes.iter().any(|r| r.namespace.as_deref() == Some(ns)) {
                return Err(exc("NoReverseMatch", format!("'{ns}' is not a registered namespace")));
            }
        }
        let candidates: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.name.as_deref() == Some(name) && r.namespace.as_deref() == ns)
            .chain(self.routes.iter().filter(|r| ns.is_none() && r.name.is_none() && r.view == name))
            .collect();
        if candidates.is_empty() {
            return Err(exc("NoReverseMatch", format!("Reverse for '{name}' not found. '{name}' is not a valid view function or pattern name.")));
        }
        for r in candidates.iter().rev() {
            let params = r.params();
            let values: Vec<(String, String)> = if !args.is_empty() {
                if args.len() != params.len() {
                    continue;
                }
                params.iter().zip(args.iter()).map(|((n, _), v)| (n.to_string(), v.clone())).collect()
            } else {
                if kwargs.len() != params.len() || !params.iter().all(|(n, _)| kwargs.iter().any(|(k, _)| k == n)) {
                    continue;
                }
                kwargs.to_vec()
            };
            if let Some(url) = r.build(&values) {
                return Ok(url);
            }
        }
        let args_text = format!("({}{})", args.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", "), if args.len() == 1 { "," } else { "" });
        let kwargs_text = format!("{{{}}}", kwargs.iter().map(|(k, v)| format!("'{k}': '{v}'")).collect::<Vec<_>>().join(", "));
        let tried: Vec<String> = candidates.iter().map(|r| format!("'{}'", r.regex_text())).collect();
        Err(exc(
            "NoReverseMatch",
            format!(
                "Reverse for '{name}' with {} not found. {} pattern(s) tried: [{}]",
                if args.is_empty() && kwargs.is_empty() {
                    "no arguments".to_string()
                } else if kwargs.is_empty() {
                    format!("arguments '{args_text}'")
                } else {
                    format!("keyword arguments '{kwargs_text}'")
                },
                tried.len(),
                tried.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_and_reverse() {
        let conf = UrlConf {
            routes: vec![
                Route::new("articles/", "article_list", Some("articles:list")).unwrap(),
                Route::new("articles/<slug:slug>/", "article_detail", Some("articles:detail")).unwrap(),
                Route::new("orgs/<int:pk>/tasks/", "task_list", Some("tasks:list")).unwrap(),
            ],
        };
        let (r, kw) = conf.resolve("/articles/hello-world/").unwrap();
        assert_eq!(r.view, "article_detail");
        assert_eq!(kw[0].0, "slug");
        let (_, kw) = conf.resolve("/orgs/42/tasks/").unwrap();
        assert!(matches!(kw[0].1, Val::Int(42)));
        assert!(conf.resolve("/orgs/x/tasks/").is_none());
        assert!(conf.resolve("/articles").is_none());
        assert_eq!(conf.reverse("articles:detail", &[], &[("slug".into(), "a-b".into())]).unwrap(), "/articles/a-b/");
        assert_eq!(conf.reverse("articles:list", &[], &[]).unwrap(), "/articles/");
        let e = conf.reverse("articles:nope", &[], &[]).unwrap_err();
        assert_eq!(e.message, "Reverse for 'nope' not found. 'nope' is not a valid view function or pattern name.");
        let e = conf.reverse("blog:list", &[], &[]).unwrap_err();
        assert_eq!(e.message, "'blog' is not a registered namespace");
    }
}
