//! Feature flags: capabilities the platform admin switches on or off for the whole platform,
//! an MSP or one organisation (the most specific setting wins; unset: on), so a capability
//! can reach some tenants first.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A capability behind a flag.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Users read and answer their mail in the Live Archive.
    LiveArchive,
    /// Admins run test deliveries to their destinations.
    TestDelivery,
    /// Admins see traffic statistics.
    Statistics,
}

impl Feature {
    pub const ALL: [Feature; 3] = [Feature::LiveArchive, Feature::TestDelivery, Feature::Statistics];

    /// For people ("the Live Archive is not enabled …").
    pub fn label(self) -> &'static str {
        match self {
            Feature::LiveArchive => "the Live Archive",
            Feature::TestDelivery => "test delivery",
            Feature::Statistics => "statistics",
        }
    }
}

/// Where a flag setting applies.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FeatureLevel {
    Platform,
    Msp,
    Org,
}

/// One setting: `feature` is on or off at `level` (`scope_id` names the MSP or organisation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureSetting {
    pub feature: Feature,
    pub level: FeatureLevel,
    #[serde(default)]
    pub scope_id: Option<Uuid>,
    /// On or off; `null` removes the setting (the wider one applies again).
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FeatureSettings {
    pub items: Vec<FeatureSetting>,
}
