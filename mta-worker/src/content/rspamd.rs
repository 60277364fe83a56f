//! Optional rspamd: the message goes to its `/checkv2` endpoint with the envelope, and its
//! score joins ours (as the `RSPAMD` rule). Failures only cost rspamd's opinion.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use crate::content::authn::Envelope;

#[derive(Clone)]
pub struct Rspamd {
    http: reqwest::Client,
    url: String,
}

#[derive(Deserialize)]
struct CheckReply {
    score: f64,
    #[serde(default)]
    symbols: HashMap<String, Symbol>,
}

#[derive(Deserialize)]
struct Symbol {
    #[serde(default)]
    score: f64,
}

impl Rspamd {
    pub fn new(url: &str) -> crate::common::error::WorkerResult<Rspamd> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| crate::common::error::WorkerError::Config(format!("rspamd client: {e}")))?;
        Ok(Rspamd { http, url: format!("{}/checkv2", url.trim_end_matches('/')) })
    }

    /// rspamd's score and its strongest symbols, or `None` when it cannot answer.
    pub async fn check(
        &self,
        envelope: &Envelope<'_>,
        rcpts: &[&str],
        queue_id: &str,
        raw: &[u8],
    ) -> Option<(f64, Vec<String>)> {
        let mut request = self
            .http
            .post(&self.url)
            .header("IP", envelope.ip.to_string())
            .header("Helo", envelope.helo)
            .header("From", envelope.mail_from)
            .header("Queue-Id", queue_id)
            .body(raw.to_vec());
        for rcpt in rcpts {
            request = request.header("Rcpt", *rcpt);
        }
        let reply = match request.send().await.and_then(|r| r.error_for_status()) {
            Ok(reply) => reply,
            Err(err) => {
                tracing::warn!(%err, "rspamd did not answer");
                return None;
            }
        };
        match reply.json::<CheckReply>().await {
            Ok(check) => {
                let mut symbols: Vec<(String, f64)> =
                    check.symbols.into_iter().map(|(name, s)| (name, s.score)).filter(|(_, s)| *s != 0.0).collect();
                symbols.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
                Some((check.score, symbols.into_iter().take(5).map(|(name, _)| name).collect()))
            }
            Err(err) => {
                tracing::warn!(%err, "rspamd answered something unreadable");
                None
            }
        }
    }
}
