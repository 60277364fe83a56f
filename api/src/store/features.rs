//! Feature flag settings: read whole (they are few), written one at a time.

use moat_openapi::{Feature, FeatureLevel, FeatureSetting, from_wire_name, wire_name};
use uuid::Uuid;

use super::error::StoreResult;
use super::{Store, with_pool};

impl Store {
    pub async fn feature_settings(&self) -> StoreResult<Vec<FeatureSetting>> {
        let rows: Vec<(String, String, String, bool)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT feature, level, scope_id, enabled FROM feature_settings ORDER BY feature, level, scope_id")
            .fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(feature, level, scope, enabled)| {
                Some(FeatureSetting {
                    feature: from_wire_name(&feature)?,
                    level: from_wire_name(&level)?,
                    scope_id: Uuid::parse_str(&scope).ok().filter(|id| !id.is_nil()),
                    enabled: Some(enabled),
                })
            })
            .collect())
    }

    /// Sets (or with `enabled: None`, removes) one setting.
    pub async fn set_feature(&self, s: &FeatureSetting) -> StoreResult<()> {
        let scope = s.scope_id.unwrap_or(Uuid::nil()).to_string();
        let (feature, level) = (wire_name(&s.feature), wire_name(&s.level));
        match s.enabled {
            Some(on) => with_pool!(self, pool => sqlx::query(
                "INSERT INTO feature_settings (feature, level, scope_id, enabled) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (feature, level, scope_id) DO UPDATE SET enabled = excluded.enabled")
                .bind(feature).bind(level).bind(scope).bind(on).execute(pool).await.map(|r| r.rows_affected()))?,
            None => with_pool!(self, pool => sqlx::query(
                "DELETE FROM feature_settings WHERE feature = $1 AND level = $2 AND scope_id = $3")
                .bind(feature).bind(level).bind(scope).execute(pool).await.map(|r| r.rows_affected()))?,
        };
        Ok(())
    }

    /// The features on for a tenant: the organisation's setting, else its MSP's, else the
    /// platform's, else on.
    pub async fn features_for(&self, org: Option<Uuid>, msp: Option<Uuid>) -> StoreResult<Vec<Feature>> {
        let settings = self.feature_settings().await?;
        let setting = |f: Feature, level: FeatureLevel, id: Option<Uuid>| {
            settings.iter().find(|s| s.feature == f && s.level == level && s.scope_id == id).and_then(|s| s.enabled)
        };
        Ok(Feature::ALL
            .into_iter()
            .filter(|&f| {
                org.and_then(|o| setting(f, FeatureLevel::Org, Some(o)))
                    .or_else(|| msp.and_then(|m| setting(f, FeatureLevel::Msp, Some(m))))
                    .or_else(|| setting(f, FeatureLevel::Platform, None))
                    .unwrap_or(true)
            })
            .collect())
    }
}
