//! The offline tools from outside: `moat-mta learn` builds a model file from folders of
//! raw messages, `moat-mta scan` prints `PATH<TAB>SCORE<TAB>VERDICT<TAB>REASONS` per message.

use std::path::{Path, PathBuf};
use std::process::Command;

fn moat_mta() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moat-mta"));
    // No config file or MOAT_* settings of the developer's shell may leak in.
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn write_corpus(dir: &Path, kind: &str, words: &[&str], n: usize) -> PathBuf {
    let folder = dir.join(kind);
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..n {
        // A cheap deterministic shuffle: every message differs, the vocabulary is the kind's.
        let text: Vec<&str> = (0..25).map(|k| words[(i * 7 + k * 3) % words.len()]).collect();
        let raw = format!(
            "From sender@ext.test Mon Jan  1 00:00:00 2024\nFrom: Sender {i} <s{i}@ext.test>\nTo: user@example.test\n\
             Subject: {kind} number {i}\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <{kind}{i}@ext.test>\n\n{}\n",
            text.join(" ")
        );
        std::fs::write(folder.join(format!("{i:03}.eml")), raw).unwrap();
    }
    folder
}

#[test]
fn learn_then_scan_judges_messages_and_prints_one_line_each() {
    let dir = std::env::temp_dir().join(format!("moat-offline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spam_words = ["lottery", "winner", "claim", "prize", "cash", "casino", "jackpot", "bonus", "unclaimed"];
    let ham_words = ["meeting", "agenda", "project", "review", "budget", "schedule", "draft", "roadmap", "sprint"];
    let spam = write_corpus(&dir, "spam", &spam_words, 30);
    let ham = write_corpus(&dir, "ham", &ham_words, 30);
    let model = dir.join("spam.model");

    let out = moat_mta()
        .args(["learn", "--model"])
        .arg(&model)
        .arg("--spam")
        .arg(&spam)
        .arg("--ham")
        .arg(&ham)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("learned 30 spam and 30 ham"), "{stdout}");
    // Learning is incremental: a second run adds to the same file.
    let out = moat_mta().args(["learn", "--model"]).arg(&model).arg("--ham").arg(&ham).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("holds 30 spam, 60 ham"), "{:?}", out);

    let new_spam = dir.join("new-spam.eml");
    std::fs::write(&new_spam, "From: Lucky <lucky@ext.test>\r\nSubject: you are a winner\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <n1@ext.test>\r\n\r\nclaim your jackpot prize cash bonus now, lottery winner\r\n").unwrap();
    let new_ham = dir.join("new-ham.eml");
    std::fs::write(&new_ham, "From: Bob <bob@ext.test>\r\nSubject: sprint review\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <n2@ext.test>\r\n\r\nthe project roadmap and budget draft for the review meeting\r\n").unwrap();
    let gtube = dir.join("gtube.eml");
    std::fs::write(
        &gtube,
        "Subject: test\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n",
    )
    .unwrap();

    let out = moat_mta().args(["scan", "--model"]).arg(&model).args([&new_spam, &new_ham, &gtube]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines.iter().all(|l| l.len() == 4), "{stdout}");
    assert_eq!((lines[0][0], lines[0][2]), (new_spam.to_str().unwrap(), "quarantine"), "{stdout}");
    assert!(lines[0][3].contains("BAYES_99"), "{stdout}");
    assert_eq!(lines[1][2], "deliver", "{stdout}");
    assert!(lines[1][3].contains("BAYES_00") && lines[1][1].parse::<f64>().unwrap() < 0.0, "{stdout}");
    assert_eq!((lines[2][2], lines[2][3]), ("quarantine", "GTUBE"), "{stdout}");

    // Thresholds are flags; a folder scans every file in it.
    let out = moat_mta().args(["scan", "--reject-at", "5", "--model"]).arg(&model).arg(&spam).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 30);
    assert!(stdout.lines().all(|l| l.split('\t').nth(2) == Some("reject")), "{stdout}");

    // Bad input: a missing path or a file that is not a model fails with a message, no output.
    let out = moat_mta().args(["scan"]).arg(dir.join("nope")).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("nope"));
    let out = moat_mta().args(["scan", "--model"]).arg(&new_ham).arg(&new_ham).output().unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Moat model file"), "{:?}", out);
    std::fs::remove_dir_all(&dir).unwrap();
}
