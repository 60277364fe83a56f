//! The worker's client of the API's worker channel (node token auth).

use std::time::Duration;

use moat_openapi::{
    CorrespondentBatch, EventAck, EventBatch, IpReputation, NodeInfo, PolicySnapshot, QuarantineUpload, RegisterNode,
    ReputationChanges, ReputationPush,
};

use crate::common::error::{WorkerError, WorkerResult};

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn api_err(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Api { status: None, message: e.to_string() }
}

impl ApiClient {
    pub fn new(base: &str, token: &str) -> WorkerResult<ApiClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(90))
            .build()
            .map_err(api_err)?;
        Ok(ApiClient { http, base: format!("{}/api/v1", base.trim_end_matches('/')), token: token.to_string() })
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    async fn checked(res: reqwest::Response) -> WorkerResult<reqwest::Response> {
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let body = res.text().await.unwrap_or_default();
        Err(WorkerError::Api { status: Some(status.as_u16()), message: body })
    }

    pub async fn register(&self, hostname: &str) -> WorkerResult<NodeInfo> {
        let body = RegisterNode { hostname: Some(hostname.into()), version: Some(env!("CARGO_PKG_VERSION").into()) };
        let res = Self::checked(self.post("/worker/register").json(&body).send().await.map_err(api_err)?).await?;
        res.json().await.map_err(api_err)
    }

    pub async fn policy(&self) -> WorkerResult<PolicySnapshot> {
        let res = Self::checked(self.get("/worker/policy").send().await.map_err(api_err)?).await?;
        res.json().await.map_err(api_err)
    }

    /// Waits up to `wait` seconds for a snapshot newer than `since`.
    pub async fn policy_changes(&self, since: i64, wait: u64) -> WorkerResult<Option<PolicySnapshot>> {
        let req = self.get(&format!("/worker/policy/changes?since={since}&wait={wait}"));
        let res = Self::checked(req.send().await.map_err(api_err)?).await?;
        if res.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        res.json().await.map(Some).map_err(api_err)
    }

    pub async fn post_events(&self, batch: &EventBatch) -> WorkerResult<EventAck> {
        let res = Self::checked(self.post("/worker/events").json(batch).send().await.map_err(api_err)?).await?;
        res.json().await.map_err(api_err)
    }

    pub async fn push_reputation(&self, entries: &[IpReputation]) -> WorkerResult<()> {
        let body = ReputationPush { entries: entries.to_vec() };
        Self::checked(self.post("/worker/reputation").json(&body).send().await.map_err(api_err)?).await?;
        Ok(())
    }

    pub async fn pull_reputation(&self, since: i64) -> WorkerResult<ReputationChanges> {
        let res = Self::checked(self.get(&format!("/worker/reputation?since={since}")).send().await.map_err(api_err)?)
            .await?;
        res.json().await.map_err(api_err)
    }

    /// Pushes this node's changed outbound counts and pulls the other nodes' changes.
    pub async fn exchange_outbound_counts(
        &self,
        since: i64,
        counts: &[moat_openapi::OutboundCount],
    ) -> WorkerResult<moat_openapi::OutboundCountChanges> {
        let body = moat_openapi::OutboundCountExchange { since, counts: counts.to_vec() };
        let res =
            Self::checked(self.post("/worker/outbound-counts").json(&body).send().await.map_err(api_err)?).await?;
        res.json().await.map_err(api_err)
    }

    /// Hands a quarantined copy to the API (see [`WorkerError::is_refusal`] for a refusal).
    pub async fn post_quarantine(&self, upload: &QuarantineUpload) -> WorkerResult<()> {
        Self::checked(self.post("/worker/quarantine").json(upload).send().await.map_err(api_err)?).await?;
        Ok(())
    }

    /// Hands an archive copy to the API (see [`WorkerError::is_refusal`] for a refusal).
    pub async fn post_archive(&self, upload: &moat_openapi::ArchiveUpload) -> WorkerResult<()> {
        Self::checked(self.post("/worker/archive").json(upload).send().await.map_err(api_err)?).await?;
        Ok(())
    }

    /// Reports the destinations this node has mail waiting for.
    pub async fn post_delivery(&self, report: &moat_openapi::DeliveryReport) -> WorkerResult<()> {
        Self::checked(self.post("/worker/delivery").json(report).send().await.map_err(api_err)?).await?;
        Ok(())
    }

    /// Raises alerts for admins (accounts over their sending limits).
    pub async fn post_alerts(&self, batch: &moat_openapi::AlertBatch) -> WorkerResult<()> {
        Self::checked(self.post("/worker/alerts").json(batch).send().await.map_err(api_err)?).await?;
        Ok(())
    }

    pub async fn post_correspondents(&self, batch: &CorrespondentBatch) -> WorkerResult<()> {
        Self::checked(self.post("/worker/correspondents").json(batch).send().await.map_err(api_err)?).await?;
        Ok(())
    }

    /// The training feed after `after` (what users released or reported).
    pub async fn training(&self, after: i64) -> WorkerResult<moat_openapi::TrainingBatch> {
        let res =
            Self::checked(self.get(&format!("/worker/training?after={after}")).send().await.map_err(api_err)?).await?;
        res.json().await.map_err(api_err)
    }

    /// Leases the jobs due for workers (releases from quarantine).
    pub async fn lease_jobs(&self) -> WorkerResult<moat_openapi::WorkerJobBatch> {
        let res = Self::checked(self.get("/worker/jobs").send().await.map_err(api_err)?).await?;
        res.json().await.map_err(api_err)
    }

    /// Reports on a leased job.
    pub async fn job_done(&self, id: uuid::Uuid, done: &moat_openapi::JobDone) -> WorkerResult<()> {
        Self::checked(self.post(&format!("/worker/jobs/{id}/done")).json(done).send().await.map_err(api_err)?).await?;
        Ok(())
    }
}
