use serde::{Deserialize, Serialize};

/// A unit that owns layers or approves applications: one of the city's own
/// committees (KZIO, UAIG, KVB, UGR) or an external approver (gas, power grid,
/// Vodokanal, heritage committee …). The catalog (`data/catalog.toml`) lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// Short stable code, upper case (`KZIO`, `VODOKANAL`); what layers and rules refer to.
    pub code: String,
    /// Full name as the city writes it (may be Cyrillic).
    pub name: String,
    /// True for approvers outside the city administration (utilities, federal bodies).
    #[serde(default)]
    pub external: bool,
}
