//! The statistical classifier: token counts from spam and ham, combined with Robinson's
//! chi-square method (as SpamBayes and bogofilter do) into a spam probability.
//!
//! Written here rather than taken from a crate: the Rust Bayes crates found split on
//! whitespace and multiply raw probabilities (which underflows and over-trusts rare
//! tokens); the tokenizer and the combining rule are the product's own filtering logic.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use super::tokens::Tokens;

/// Magic and version at the head of a model file.
const MAGIC: &[u8; 8] = b"MOATBY01";
/// Tokens further from 0.5 than this take part in the decision.
const MIN_DEVIATION: f64 = 0.1;
/// At most this many of the most telling tokens are combined.
const MAX_DISCRIMINATORS: usize = 150;
/// Robinson's strength of the prior (s) and the prior itself (x).
const PRIOR_STRENGTH: f64 = 0.45;
const PRIOR: f64 = 0.5;

/// Spam and ham counts per hashed token, and how many messages of each were learned.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub spam_messages: u32,
    pub ham_messages: u32,
    counts: HashMap<u64, (u32, u32)>,
}

impl Model {
    /// Reads a model written by [`Model::save`].
    pub fn load(path: &Path) -> std::io::Result<Model> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut bytes)?;
        Model::from_bytes(&bytes)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not a Moat model file"))
    }

    fn from_bytes(bytes: &[u8]) -> Option<Model> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let u32_at = |b: &[u8], at: usize| b.get(at..at + 4).map(|s| u32::from_le_bytes(s.try_into().unwrap()));
        let u64_at = |b: &[u8], at: usize| b.get(at..at + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
        let spam_messages = u32_at(rest, 0)?;
        let ham_messages = u32_at(rest, 4)?;
        let entries = u64_at(rest, 8)? as usize;
        let body = rest.get(16..)?;
        if body.len() != entries.checked_mul(16)? {
            return None;
        }
        let mut counts = HashMap::with_capacity(entries);
        for chunk in body.chunks_exact(16) {
            counts.insert(u64_at(chunk, 0)?, (u32_at(chunk, 8)?, u32_at(chunk, 12)?));
        }
        Some(Model { spam_messages, ham_messages, counts })
    }

    /// Writes the model atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(24 + self.counts.len() * 16);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.spam_messages.to_le_bytes());
        bytes.extend_from_slice(&self.ham_messages.to_le_bytes());
        bytes.extend_from_slice(&(self.counts.len() as u64).to_le_bytes());
        let mut entries: Vec<_> = self.counts.iter().collect();
        entries.sort_unstable_by_key(|(hash, _)| **hash);
        for (hash, (spam, ham)) in entries {
            bytes.extend_from_slice(&hash.to_le_bytes());
            bytes.extend_from_slice(&spam.to_le_bytes());
            bytes.extend_from_slice(&ham.to_le_bytes());
        }
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// Distinct tokens known.
    pub fn tokens(&self) -> usize {
        self.counts.len()
    }

    /// Learns one message's tokens as spam or ham (each token once per message).
    pub fn learn(&mut self, tokens: &Tokens, spam: bool) {
        for &hash in tokens.unique() {
            let entry = self.counts.entry(hash).or_default();
            if spam {
                entry.0 = entry.0.saturating_add(1);
            } else {
                entry.1 = entry.1.saturating_add(1);
            }
        }
        if spam {
            self.spam_messages += 1;
        } else {
            self.ham_messages += 1;
        }
    }

    /// Whether the model has seen enough of both kinds to judge.
    pub fn is_trained(&self) -> bool {
        self.spam_messages >= 10 && self.ham_messages >= 10
    }

    /// The spam probability of a message, 0 (ham) to 1 (spam).
    pub fn probability(&self, tokens: &Tokens) -> f64 {
        let (nspam, nham) = (f64::from(self.spam_messages.max(1)), f64::from(self.ham_messages.max(1)));
        let mut telling: Vec<f64> = tokens
            .unique()
            .iter()
            .filter_map(|hash| {
                let &(spam, ham) = self.counts.get(hash)?;
                let (spam_ratio, ham_ratio) = (f64::from(spam) / nspam, f64::from(ham) / nham);
                let raw = spam_ratio / (spam_ratio + ham_ratio);
                let n = f64::from(spam + ham);
                let f = (PRIOR_STRENGTH * PRIOR + n * raw) / (PRIOR_STRENGTH + n);
                ((f - 0.5).abs() > MIN_DEVIATION).then_some(f.clamp(0.0001, 0.9999))
            })
            .collect();
        if telling.is_empty() {
            return 0.5;
        }
        telling.sort_unstable_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        telling.truncate(MAX_DISCRIMINATORS);
        let n = telling.len();
        let ham_evidence: f64 = telling.iter().map(|f| f.ln()).sum();
        let spam_evidence: f64 = telling.iter().map(|f| (1.0 - f).ln()).sum();
        let h = chi2_survival(-2.0 * ham_evidence, 2 * n);
        let s = chi2_survival(-2.0 * spam_evidence, 2 * n);
        (1.0 + h - s) / 2.0
    }
}

/// P(X ≥ chi2) for a chi-square distribution with an even number of degrees of freedom.
fn chi2_survival(chi2: f64, degrees: usize) -> f64 {
    let m = chi2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..degrees / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Tokens {
        Tokens::from_text(text)
    }

    #[test]
    fn learns_separates_and_round_trips() {
        let mut model = Model::default();
        for i in 0..20 {
            model.learn(&tokens(&format!("cheap viagra pills winner prize money offer {i}")), true);
            model.learn(&tokens(&format!("meeting agenda project review tomorrow lunch {i}")), false);
        }
        assert!(model.is_trained());
        let spam = model.probability(&tokens("claim your prize money with cheap pills"));
        let ham = model.probability(&tokens("project meeting moved to tomorrow after lunch"));
        assert!(spam > 0.95, "{spam}");
        assert!(ham < 0.05, "{ham}");
        assert_eq!(model.probability(&tokens("completely unrelated words here")), 0.5);

        let dir = std::env::temp_dir().join(format!("moat-bayes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.model");
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!((loaded.spam_messages, loaded.ham_messages, loaded.tokens()), (20, 20, model.tokens()));
        assert_eq!(loaded.probability(&tokens("cheap prize")), model.probability(&tokens("cheap prize")));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Model::load(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn chi2_survival_matches_known_values() {
        // Two degrees of freedom: exp(-x/2).
        assert!((chi2_survival(2.0, 2) - (-1.0f64).exp()).abs() < 1e-12);
        assert!((chi2_survival(0.0, 10) - 1.0).abs() < 1e-12);
        assert!(chi2_survival(100.0, 4) < 1e-15);
    }
}
