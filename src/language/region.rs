//! Where the customer speaks from: a campaign's `region` (or `call.start.region`) decides which
//! regional reading of a word applies ("coger" is neutral in Spain and vulgar in Mexico and Argentina;
//! "boludo" is banter in Buenos Aires and an insult elsewhere; "pendejo" is a strong insult in
//! Mexico and a kid in Argentina).

use serde::{Deserialize, Serialize};

/// The regions calma has regional lexicon readings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Region {
    #[serde(rename = "es-ES")]
    Spain,
    #[serde(rename = "es-MX")]
    Mexico,
    #[serde(rename = "es-AR")]
    Argentina,
    #[serde(rename = "es-CO")]
    Colombia,
    #[serde(rename = "es-CL")]
    Chile,
    #[serde(rename = "es-PE")]
    Peru,
    #[serde(rename = "es-VE")]
    Venezuela,
    #[serde(rename = "es-UY")]
    Uruguay,
    #[serde(rename = "es-US")]
    UnitedStates,
}

impl Region {
    pub const ALL: [Region; 9] = [
        Region::Spain,
        Region::Mexico,
        Region::Argentina,
        Region::Colombia,
        Region::Chile,
        Region::Peru,
        Region::Venezuela,
        Region::Uruguay,
        Region::UnitedStates,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Region::Spain => "es-ES",
            Region::Mexico => "es-MX",
            Region::Argentina => "es-AR",
            Region::Colombia => "es-CO",
            Region::Chile => "es-CL",
            Region::Peru => "es-PE",
            Region::Venezuela => "es-VE",
            Region::Uruguay => "es-UY",
            Region::UnitedStates => "es-US",
        }
    }

    /// `es-MX`, `es_mx`, `ES-mx`…; `None` for a code calma has no readings for.
    pub fn parse(code: &str) -> Option<Region> {
        let c = code.trim().replace('_', "-").to_ascii_lowercase();
        Region::ALL
            .into_iter()
            .find(|r| r.code().to_ascii_lowercase() == c)
    }

    /// A lexicon `variant` cell (`all`, `es-MX`, `es-AR,es-UY`, `es-419`) covers this region.
    /// Rioplatense entries (`es-AR`) hold in Uruguay, Mexican ones among US Spanish speakers,
    /// `es-419` everywhere in the Americas.
    pub fn covers(self, variant: &str) -> bool {
        variant.split(',').map(str::trim).any(|v| {
            v == "all"
                || v == self.code()
                || (v == "es-419" && self != Region::Spain)
                || (v == "es-AR" && self == Region::Uruguay)
                || (v == "es-MX" && self == Region::UnitedStates)
        })
    }
}

/// Is `variant` a well-formed variant cell (each part `all`, `es-419` or a known region)?
pub fn valid_variant(variant: &str) -> bool {
    !variant.is_empty()
        && variant
            .split(',')
            .map(str::trim)
            .all(|v| v == "all" || v == "es-419" || Region::parse(v).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_cover() {
        assert_eq!(Region::parse("es_mx"), Some(Region::Mexico));
        assert_eq!(Region::parse("pt-BR"), None);
        assert!(Region::Uruguay.covers("es-AR"));
        assert!(!Region::Spain.covers("es-419"));
        assert!(Region::Chile.covers("es-CO,es-CL"));
        assert!(valid_variant("es-AR,es-UY") && !valid_variant("es-XX"));
    }
}
