//! Which profiles a command runs on: `-p NAME` (repeatable), `-p 'GLOB'`, `--all`, read against
//! the config file. The one place that turns the global options into profile names, so every
//! command that takes several profiles (tail, send --wait, doctor, probe) agrees on the rules and
//! on the error messages.
//!
//! May not touch: the network, the profiles' contents (it reads names and whether a session is
//! saved, nothing else), stdout.

use odoo_bus_core::config::Config;
use odoo_bus_core::error::{Error, Result};

use super::Context;

/// What the command line asked for, before it is read against the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// One plain name (the default `default`): today's single-profile behaviour, the profile
    /// need not exist yet (the command says "not logged in").
    One(&'a str),
    /// Several names and/or globs, or `--all`: resolved against the config file.
    Many { names: &'a [String], all: bool },
}

/// The request the global options make.
pub fn request(ctx: &Context) -> Request<'_> {
    let names = &ctx.global.profile;
    match names.as_slice() {
        [one] if !ctx.global.all && !is_glob(one) => Request::One(one),
        _ => Request::Many {
            names,
            all: ctx.global.all,
        },
    }
}

/// For commands that work on one profile (login, logout, status, subscribe, demo, send
/// without --wait): a usage error (exit 2) when several were given.
pub fn single(ctx: &Context, command: &str) -> Result<()> {
    match request(ctx) {
        Request::One(_) => Ok(()),
        Request::Many { .. } => Err(Error::usage(format!(
            "`{command}` works on one profile: give a single -p NAME (several profiles, globs and --all are for tail, send --wait, doctor and probe); see `odoo-bus {command} --help`"
        ))),
    }
}

/// The profile names the options select, in the order given (`--all` and globs: the config
/// file's order), without repeats. A name that is not in the config file, a glob that matches
/// nothing, and `--all` with no logged-in profile are usage errors naming the profiles there are.
pub fn select(ctx: &Context) -> Result<Vec<String>> {
    match request(ctx) {
        Request::One(name) => Ok(vec![name.to_string()]),
        Request::Many { names, all } => {
            let config = ctx.store.load()?;
            resolve(&config, names, all, &ctx.store.path().display().to_string())
        }
    }
}

/// [`select`] on a config already read (pure: unit-tested).
pub fn resolve(config: &Config, names: &[String], all: bool, path: &str) -> Result<Vec<String>> {
    let known = || -> String {
        if config.profiles.is_empty() {
            "there are none yet: run `odoo-bus login -p NAME URL` first".to_string()
        } else {
            let list: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
            format!("profiles there: {}", list.join(", "))
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    };
    if all {
        let explicit = names.len() > 1 || names.first().is_some_and(|n| n != "default");
        if explicit {
            return Err(Error::usage(
                "give either --all or -p, not both (--all already takes every logged-in profile)",
            ));
        }
        let logged_in: Vec<&String> = config
            .profiles
            .iter()
            .filter(|(_, p)| p.url.is_some() && p.session_id.is_some())
            .map(|(name, _)| name)
            .collect();
        if logged_in.is_empty() {
            return Err(Error::usage(format!(
                "--all found no logged-in profile in {path} ({}); run `odoo-bus login -p NAME URL`",
                known()
            )));
        }
        logged_in.into_iter().for_each(|n| push(n));
        return Ok(out);
    }
    for name in names {
        if is_glob(name) {
            let matched: Vec<&String> = config
                .profiles
                .keys()
                .filter(|k| glob_match(name, k))
                .collect();
            if matched.is_empty() {
                return Err(Error::usage(format!(
                    "-p '{name}' matches no profile in {path} ({})",
                    known()
                )));
            }
            matched.into_iter().for_each(|n| push(n));
        } else if config.profiles.contains_key(name.as_str()) {
            push(name);
        } else {
            return Err(Error::usage(format!(
                "no profile `{name}` in {path} ({})",
                known()
            )));
        }
    }
    Ok(out)
}

/// Runs one future per profile side by side on this thread (the runtime has one) and returns
/// their outputs in the order given, whatever order they finish in.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> =
        futures.into_iter().map(Box::pin).enumerate().collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => {
                done[*i] = Some(out);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// `*`, `?` or `[` make a name a glob (profile names never need them).
pub fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// Shell-style matching: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!x]` one of a set.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches_from(&p, &t)
}

fn matches_from(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len()).any(|skip| matches_from(&p[1..], &t[skip..])),
        Some('?') => !t.is_empty() && matches_from(&p[1..], &t[1..]),
        Some('[') => match (t.first(), p.iter().position(|&c| c == ']')) {
            (Some(&c), Some(end)) if end > 1 => {
                let set = &p[1..end];
                let (negated, set) = match set.first() {
                    Some('!') | Some('^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= (set[i]..=set[i + 2]).contains(&c);
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negated && matches_from(&p[end + 1..], &t[1..])
            }
            // An unclosed `[` is a plain character.
            _ => t.first() == Some(&'[') && matches_from(&p[1..], &t[1..]),
        },
        Some(&c) => t.first() == Some(&c) && matches_from(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odoo_bus_core::config::Profile;
    use odoo_bus_core::secret::SessionId;

    fn config(names: &[(&str, bool)]) -> Config {
        let mut c = Config::default();
        for (name, logged_in) in names {
            let mut p = Profile::default();
            if *logged_in {
                p.url = Some("http://x".into());
                p.session_id = Some(SessionId::new("s"));
            }
            c.profiles.insert(name.to_string(), p);
        }
        c
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn join_all_keeps_the_order_given() {
        let slow_first = vec![
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                1
            }) as std::pin::Pin<Box<dyn Future<Output = i32>>>,
            Box::pin(async { 2 }),
        ];
        assert_eq!(join_all(slow_first).await, [1, 2]);
    }

    #[test]
    fn globs() {
        assert!(glob_match("cust-*", "cust-a"));
        assert!(glob_match("cust-*", "cust-"));
        assert!(!glob_match("cust-*", "prod"));
        assert!(glob_match("c?st-[ab]", "cust-b"));
        assert!(!glob_match("c?st-[ab]", "cust-c"));
        assert!(glob_match("s[!x]", "sy"));
        assert!(glob_match("v[0-9]*", "v18prod"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn names_globs_and_all_resolve_in_order_without_repeats() {
        let c = config(&[
            ("cust-a", true),
            ("cust-b", false),
            ("prod", true),
            ("zeta", true),
        ]);
        let got = resolve(&c, &names(&["prod", "cust-*", "prod"]), false, "cfg").unwrap();
        assert_eq!(got, ["prod", "cust-a", "cust-b"]);
        let got = resolve(&c, &names(&["default"]), true, "cfg").unwrap();
        assert_eq!(got, ["cust-a", "prod", "zeta"]);
    }

    #[test]
    fn unknown_names_and_empty_globs_are_usage_errors_naming_the_profiles() {
        let c = config(&[("prod", true), ("staging", false)]);
        for asked in [&["prod", "nope"][..], &["x-*"][..]] {
            let e = resolve(&c, &names(asked), false, "cfg").unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.message.contains("prod, staging"), "{}", e.message);
        }
        let e = resolve(&config(&[("a", false)]), &names(&["default"]), true, "cfg").unwrap_err();
        assert!(e.message.contains("no logged-in profile"), "{}", e.message);
        let e = resolve(&c, &names(&["prod"]), true, "cfg").unwrap_err();
        assert!(e.message.contains("either --all or -p"), "{}", e.message);
    }
}
