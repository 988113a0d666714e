//! Configuration: per-campaign thresholds, budget and texts, from TOML.
//!
//! ```toml
//! [campaigns.default.nudges]
//! min_gap_ms = 20000
//! [campaigns.default.nudges.kinds.slow_down]
//! enabled = false
//! [campaigns.ventas.timing]       # only what differs: the rest comes from `default`
//! dead_air_ms = 6000
//! ```
//! Every campaign inherits `default` (which itself starts from the built-in defaults) and
//! overrides only what it names. Unknown keys are errors, so a typo never silently does nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::language::frustration::FrustrationConfig;
use crate::nudges::policy::PolicyConfig;
use crate::timing::TimingConfig;

/// Everything tunable for one campaign.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignConfig {
    /// The customers' region (`region = "es-MX"`): which regional reading of a word applies
    /// (README "How calma reads Spanish"). `call.start.region` overrides it per call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<crate::language::region::Region>,
    pub timing: TimingConfig,
    pub frustration: FrustrationConfig,
    pub nudges: PolicyConfig,
    pub privacy: PrivacyConfig,
    pub history: HistoryConfig,
    /// Role mapping of platform adapters (`/v1/ingest/{format}`, `/v1/stream/{format}`).
    pub adapters: crate::adapters::AdapterConfig,
}

/// `[campaigns.X.history]`: what the call history (SQLite) keeps, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Days a call's record (summary, nudges, evidence, feedback, timing) is kept.
    pub retention_days: u32,
    /// Keep the call's transcript (final segments, PII-redacted). Off by default.
    pub keep_transcripts: bool,
    /// Days a kept transcript survives (never longer than the record).
    pub transcript_retention_days: u32,
    /// Look up the customer's earlier calls at call start (from `call.start.customer_id`, stored
    /// only as a keyed hash) and send the agent a `context` message.
    pub customer_context: bool,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            retention_days: 90,
            keep_transcripts: false,
            transcript_retention_days: 7,
            customer_context: true,
        }
    }
}

/// `[campaigns.X.privacy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Mask phone, card, IBAN and DNI/NIE numbers and e-mail addresses in everything the engine
    /// sends out (evidence quotes, summaries). On by default: transcripts are personal data.
    pub redact_pii: bool,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig { redact_pii: true }
    }
}

impl CampaignConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.frustration
            .validate()
            .map_err(|e| format!("frustration: {e}"))?;
        self.nudges.validate().map_err(|e| format!("nudges: {e}"))?;
        if self.history.retention_days == 0 {
            return Err("history: retention_days must be at least 1".into());
        }
        let t = &self.timing;
        if t.fast_clear_syllables_per_s >= t.fast_syllables_per_s {
            return Err(
                "timing: fast_clear_syllables_per_s must be below fast_syllables_per_s".into(),
            );
        }
        if t.dead_air_check_ms < t.dead_air_ms || t.dead_air_hold_ms < t.dead_air_check_ms {
            return Err(
                "timing: need dead_air_ms <= dead_air_check_ms <= dead_air_hold_ms (a quick check \
                 waits at least as long as plain silence, a formal hold at least as long as a check)"
                    .into(),
            );
        }
        if t.rate_min_speech_ms > t.rate_window_ms {
            return Err("timing: rate_min_speech_ms must not exceed rate_window_ms".into());
        }
        Ok(())
    }
}

/// A configuration error with the campaign and key path it concerns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("config: {0}")]
pub struct ConfigError(pub String);

/// All campaigns. `default` always exists and is used for unknown campaign names.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    campaigns: BTreeMap<String, Arc<CampaignConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        let mut campaigns = BTreeMap::new();
        campaigns.insert("default".to_string(), Arc::new(CampaignConfig::default()));
        Config { campaigns }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    campaigns: BTreeMap<String, toml::Table>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let shape: FileShape =
            toml::from_str(text).map_err(|e| ConfigError(e.to_string().trim().to_string()))?;
        let builtin = toml::Table::try_from(CampaignConfig::default())
            .map_err(|e| ConfigError(e.to_string()))?;
        let mut base = builtin;
        if let Some(d) = shape.campaigns.get("default") {
            merge(&mut base, d);
        }
        let mut campaigns = BTreeMap::new();
        let names = std::iter::once("default".to_string())
            .chain(shape.campaigns.keys().filter(|k| *k != "default").cloned());
        for name in names {
            let mut table = base.clone();
            if name != "default" {
                merge(&mut table, &shape.campaigns[&name]);
            }
            let c: CampaignConfig = table.try_into().map_err(|e: toml::de::Error| {
                ConfigError(format!("campaign `{name}`: {}", e.to_string().trim()))
            })?;
            c.validate()
                .map_err(|e| ConfigError(format!("campaign `{name}`: {e}")))?;
            campaigns.insert(name, Arc::new(c));
        }
        Ok(Config { campaigns })
    }

    /// The campaign's settings, or `default` for a campaign the file does not name.
    pub fn campaign(&self, name: &str) -> Arc<CampaignConfig> {
        self.campaigns
            .get(name)
            .or_else(|| self.campaigns.get("default"))
            .cloned()
            .unwrap_or_default()
    }

    pub fn campaign_names(&self) -> impl Iterator<Item = &str> {
        self.campaigns.keys().map(String::as_str)
    }
}

/// Deep-merge `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaigns_inherit_default_and_override() {
        let c = Config::from_toml(
            r#"
[campaigns.default.nudges]
min_gap_ms = 30000
[campaigns.ventas.timing]
dead_air_ms = 6000
[campaigns.ventas.nudges.kinds.slow_down]
enabled = false
"#,
        )
        .unwrap();
        let v = c.campaign("ventas");
        assert_eq!(v.timing.dead_air_ms, 6000);
        assert_eq!(v.nudges.min_gap_ms, 30000);
        assert!(!v.nudges.enabled(crate::nudges::Kind::SlowDown));
        assert_eq!(c.campaign("unknown").timing.dead_air_ms, 8000);
    }

    #[test]
    fn campaign_region_is_read_and_checked() {
        let c = Config::from_toml("[campaigns.mx]\nregion = \"es-MX\"\n").unwrap();
        assert_eq!(
            c.campaign("mx").region,
            Some(crate::language::region::Region::Mexico)
        );
        assert_eq!(c.campaign("default").region, None);
        let e = Config::from_toml("[campaigns.x]\nregion = \"es-XX\"\n").unwrap_err();
        assert!(e.0.contains("es-XX") || e.0.contains("region"), "{e}");
    }

    #[test]
    fn errors_are_clear() {
        let e = Config::from_toml("[campaigns.default.timing]\ndead_air = 5\n").unwrap_err();
        assert!(e.0.contains("dead_air"), "{e}");
        let e =
            Config::from_toml("[campaigns.x.nudges.kinds.breath]\nenabled = false\n").unwrap_err();
        assert!(e.0.contains("unknown nudge kind"), "{e}");
        let e = Config::from_toml("[campaigns.x.frustration]\ntense = 0.9\n").unwrap_err();
        assert!(e.0.contains("campaign `x`"), "{e}");
    }
}
