//! Content scoring: named rules, the statistical classifier and (when configured) rspamd,
//! summed into one score and judged against the recipient domain's thresholds. The live
//! pipeline and `moat-mta scan` call the same [`Scanner::score`].

pub mod bayes;
pub mod rules;
pub mod tokens;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use mail_parser::Message;
use uuid::Uuid;

use crate::content::authn::AuthSummary;
use bayes::Model;
use tokens::{Bodies, Tokens};

/// The GTUBE test string: any message carrying it is spam, whatever else it says.
const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// What the scorer decides for one recipient domain: the wire type, shared with events.
pub use moat_openapi::Verdict;

/// The score of a message and the rules behind it.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    pub score: f64,
    /// `(rule, points)`, in the order they fired.
    pub hits: Vec<(String, f64)>,
    /// The GTUBE test string was present: always quarantined, whatever the thresholds.
    pub gtube: bool,
}

impl Scored {
    fn add(&mut self, rule: impl Into<String>, points: f64) {
        if points != 0.0 {
            self.score += points;
            self.hits.push((rule.into(), points));
        }
    }

    /// Reasons a person can read: `RULE (+1.5)`.
    pub fn reasons(&self) -> Vec<String> {
        if self.gtube {
            return vec!["GTUBE".into()];
        }
        self.hits.iter().map(|(rule, points)| format!("{rule} ({points:+.1})")).collect()
    }

    /// The verdict against a domain's thresholds.
    pub fn verdict(&self, quarantine_at: f64, reject_at: f64) -> Verdict {
        if self.gtube {
            Verdict::Quarantine
        } else if self.score >= reject_at {
            Verdict::Reject
        } else if self.score >= quarantine_at {
            Verdict::Quarantine
        } else {
            Verdict::Deliver
        }
    }
}

/// What the connection and DNS stages learned about a message (absent in offline scans).
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub auth: Option<&'a AuthSummary>,
    /// Points from DNSBLs with the `score` action.
    pub dnsbl_score: f64,
    /// The recipient organisation, for its own model.
    pub org_id: Option<Uuid>,
    /// rspamd's score, when it is configured and answered.
    pub rspamd: Option<(f64, Vec<String>)>,
}

/// The scorer: rule weights and classifier models (a global one and optional per-org ones).
#[derive(Clone, Default)]
pub struct Scanner {
    weights: HashMap<String, f64>,
    models: Arc<RwLock<Models>>,
}

#[derive(Default)]
struct Models {
    global: Option<Arc<Model>>,
    per_org: HashMap<Uuid, Arc<Model>>,
    /// Where models are read from, and the modification times last loaded.
    global_path: Option<PathBuf>,
    org_dir: Option<PathBuf>,
    loaded: HashMap<PathBuf, std::time::SystemTime>,
}

impl Scanner {
    /// A scanner with the default weights, overridden by `overrides` (rule → points).
    pub fn new(overrides: &HashMap<String, f64>) -> Scanner {
        let mut weights: HashMap<String, f64> = rules::RULES.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        weights.extend(overrides.iter().map(|(n, w)| (n.to_ascii_uppercase(), *w)));
        Scanner { weights, models: Arc::default() }
    }

    /// Uses one model for every message (offline scans).
    pub fn with_model(self, model: Model) -> Scanner {
        if let Ok(mut models) = self.models.write() {
            models.global = Some(Arc::new(model));
        }
        self
    }

    /// Loads the global model from `global` and org models from `org_dir/<org-id>.model`,
    /// and reloads whichever file changed since (call it periodically).
    pub fn watch(&self, global: Option<PathBuf>, org_dir: Option<PathBuf>) {
        let Ok(mut models) = self.models.write() else { return };
        models.global_path = global;
        models.org_dir = org_dir;
        drop(models);
        self.reload();
    }

    /// Reloads model files that changed on disk.
    pub fn reload(&self) {
        let (global_path, org_dir) = match self.models.read() {
            Ok(m) => (m.global_path.clone(), m.org_dir.clone()),
            Err(_) => return,
        };
        let changed = |models: &Models, path: &Path| -> Option<std::time::SystemTime> {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
            (models.loaded.get(path) != Some(&modified)).then_some(modified)
        };
        let mut fresh: Vec<(Option<Uuid>, PathBuf, std::time::SystemTime)> = Vec::new();
        {
            let Ok(models) = self.models.read() else { return };
            if let Some(path) = &global_path
                && let Some(at) = changed(&models, path)
            {
                fresh.push((None, path.clone(), at));
            }
            if let Some(dir) = &org_dir
                && let Ok(entries) = std::fs::read_dir(dir)
            {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let org = path.file_stem().and_then(|s| s.to_str()).and_then(|s| Uuid::parse_str(s).ok());
                    if let (Some(org), true) = (org, path.extension().is_some_and(|e| e == "model"))
                        && let Some(at) = changed(&models, &path)
                    {
                        fresh.push((Some(org), path, at));
                    }
                }
            }
        }
        for (org, path, at) in fresh {
            match Model::load(&path) {
                Ok(model) => {
                    tracing::info!(path = %path.display(), tokens = model.tokens(), "spam model loaded");
                    let Ok(mut models) = self.models.write() else { return };
                    match org {
                        Some(org) => models.per_org.insert(org, Arc::new(model)).map(|_| ()),
                        None => models.global.replace(Arc::new(model)).map(|_| ()),
                    };
                    models.loaded.insert(path, at);
                }
                Err(err) => tracing::warn!(path = %path.display(), %err, "cannot load a spam model"),
            }
        }
    }

    fn weight(&self, rule: &str) -> f64 {
        self.weights.get(rule).copied().unwrap_or_else(|| rules::default_weight(rule))
    }

    /// The organisation's own model once it has learned enough of both kinds, else the
    /// global one.
    fn model_for(&self, org: Option<Uuid>) -> Option<Arc<Model>> {
        let models = self.models.read().ok()?;
        org.and_then(|o| models.per_org.get(&o).filter(|m| m.is_trained()).cloned()).or_else(|| models.global.clone())
    }

    /// Scores a message: the same code for live mail and offline scans.
    pub fn score(
        &self,
        raw: &[u8],
        message: Option<&Message<'_>>,
        context: &Context<'_>,
        now: DateTime<Utc>,
    ) -> Scored {
        let mut scored = Scored::default();
        if has_gtube(raw) {
            scored.gtube = true;
            scored.add("GTUBE", 1000.0);
            return scored;
        }
        if let Some(message) = message {
            let bodies = Bodies::of(message);
            for rule in rules::content(message, &bodies, now) {
                scored.add(rule, self.weight(rule));
            }
            if let Some(model) = self.model_for(context.org_id).filter(|m| m.is_trained()) {
                let p = model.probability(&Tokens::from_message(message, &bodies));
                if let Some(bucket) = rules::bayes_bucket(p) {
                    scored.add(bucket, self.weight(bucket));
                }
            }
        }
        if let Some(auth) = context.auth {
            for rule in rules::authentication(auth) {
                scored.add(rule, self.weight(rule));
            }
        }
        scored.add("DNSBL", context.dnsbl_score);
        if let Some((points, symbols)) = &context.rspamd {
            let rule = if symbols.is_empty() { "RSPAMD".to_string() } else { format!("RSPAMD[{}]", symbols.join(",")) };
            scored.add(rule, *points);
        }
        scored.score = (scored.score * 100.0).round() / 100.0;
        scored
    }
}

fn has_gtube(raw: &[u8]) -> bool {
    memchr::memmem::find(raw, GTUBE).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtube_is_always_quarantined_and_thresholds_pick_the_verdict() {
        let scanner = Scanner::new(&HashMap::from([("html_only".to_string(), 7.0)]));
        let raw = b"From: a@b.test\r\nSubject: t\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";
        let scored = scanner.score(raw, None, &Context::default(), Utc::now());
        assert_eq!((scored.reasons(), scored.verdict(5.0, 15.0)), (vec!["GTUBE".to_string()], Verdict::Quarantine));

        let raw = b"From: a@b.test\r\nSubject: t\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <x@b.test>\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n";
        let message = mail_parser::MessageParser::default().parse(raw.as_slice()).unwrap();
        let context = Context { dnsbl_score: 2.0, ..Default::default() };
        let scored = scanner.score(raw, Some(&message), &context, Utc::now());
        assert_eq!(scored.score, 9.0);
        assert_eq!(scored.reasons(), vec!["HTML_ONLY (+7.0)".to_string(), "DNSBL (+2.0)".to_string()]);
        assert_eq!(scored.verdict(5.0, 15.0), Verdict::Quarantine);
        assert_eq!(scored.verdict(10.0, 15.0), Verdict::Deliver);
        assert_eq!(scored.verdict(5.0, 9.0), Verdict::Reject);
    }
}
