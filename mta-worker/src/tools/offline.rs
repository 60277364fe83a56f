//! Offline tools for admins, like `sa-learn` and `spamassassin -t`: train a model file from
//! raw messages and score messages with the live pipeline's scorer. No API, no network.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::common::error::{AtPath, WorkerResult};
use crate::content::scan::bayes::Model;
use crate::content::scan::tokens::{Bodies, Tokens};
use crate::content::scan::{self, Scanner};

/// Every regular file under the given files and folders, sorted (hidden files skipped).
fn message_files(paths: &[PathBuf]) -> WorkerResult<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).at("cannot read", path)?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .at("cannot list", path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
                .collect();
            entries.sort();
            found.extend(message_files(&entries)?);
        } else if meta.is_file() {
            found.push(path.clone());
        }
    }
    Ok(found)
}

/// A message file's bytes without an mbox `From ` separator line, if it has one.
fn read_message(path: &Path) -> WorkerResult<Vec<u8>> {
    let raw = std::fs::read(path).at("cannot read", path)?;
    Ok(match raw.strip_prefix(b"From ") {
        Some(rest) => rest.iter().position(|&b| b == b'\n').map(|i| rest[i + 1..].to_vec()).unwrap_or_default(),
        None => raw,
    })
}

/// `moat-mta learn`: adds the messages to the model file (created when missing).
pub fn learn(model_path: &Path, spam: &[PathBuf], ham: &[PathBuf]) -> WorkerResult<()> {
    let mut model =
        if model_path.exists() { Model::load(model_path).at("cannot load", model_path)? } else { Model::default() };
    let mut counts = [0usize; 2];
    for (paths, is_spam) in [(spam, true), (ham, false)] {
        for file in message_files(paths)? {
            let raw = read_message(&file)?;
            let Some(message) = mail_parser::MessageParser::default().parse(&raw) else {
                eprintln!("skipped (not a message): {}", file.display());
                continue;
            };
            model.learn(&Tokens::from_message(&message, &Bodies::of(&message)), is_spam);
            counts[usize::from(!is_spam)] += 1;
        }
    }
    model.save(model_path).at("cannot write", model_path)?;
    println!(
        "learned {} spam and {} ham; {} now holds {} spam, {} ham, {} tokens",
        counts[0],
        counts[1],
        model_path.display(),
        model.spam_messages,
        model.ham_messages,
        model.tokens()
    );
    Ok(())
}

/// `moat-mta scan`: one line per message, `PATH<TAB>SCORE<TAB>VERDICT<TAB>REASONS`.
pub fn scan(
    model_path: Option<&Path>,
    weights: &HashMap<String, f64>,
    quarantine_at: f64,
    reject_at: f64,
    paths: &[PathBuf],
) -> WorkerResult<()> {
    let mut scanner = Scanner::new(weights);
    if let Some(path) = model_path {
        scanner = scanner.with_model(Model::load(path).at("cannot load", path)?);
    }
    let files = message_files(paths)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let started = std::time::Instant::now();
    for file in &files {
        let raw = read_message(file)?;
        let message = mail_parser::MessageParser::default().parse(&raw);
        let scored = scanner.score(&raw, message.as_ref(), &scan::Context::default(), Utc::now());
        let verdict = scored.verdict(quarantine_at, reject_at);
        writeln!(
            out,
            "{}\t{:.2}\t{}\t{}",
            file.display(),
            scored.score,
            moat_openapi::wire_name(&verdict),
            scored.reasons().join(", ")
        )?;
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("scanned {} messages in {secs:.3} s ({:.0} msgs/s)", files.len(), files.len() as f64 / secs.max(1e-9));
    Ok(())
}
