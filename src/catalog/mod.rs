//! The city's catalog as data (`data/catalog.toml`), compiled into the binary as
//! the default and overridable by a file the city edits (config `catalog`).
//! For now it holds the departments; zone types, services and rules join it
//! with permit routing.

use std::path::Path;

use serde::Deserialize;

use crate::model::Department;

/// The catalog shipped with imgis (the demo city's and Kazan's).
pub const DEFAULT_CATALOG: &str = include_str!("../../data/catalog.toml");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading catalog {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing catalog {path}: {message}")]
    Parse { path: String, message: String },
    #[error("catalog {path}: department code '{code}' appears twice")]
    DuplicateDepartment { path: String, code: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub departments: Vec<Department>,
}

impl Catalog {
    /// The built-in catalog.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_CATALOG, "data/catalog.toml (built in)")
            .expect("the built-in catalog is checked by a unit test")
    }

    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name)
    }

    pub fn parse(text: &str, path: &str) -> Result<Self, CatalogError> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| CatalogError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut seen = std::collections::HashSet::new();
        for d in &catalog.departments {
            if !seen.insert(d.code.as_str()) {
                return Err(CatalogError::DuplicateDepartment {
                    path: path.to_owned(),
                    code: d.code.clone(),
                });
            }
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_the_city_units_and_external_approvers() {
        let c = Catalog::builtin();
        let codes: Vec<&str> = c.departments.iter().map(|d| d.code.as_str()).collect();
        for code in [
            "KZIO",
            "UAIG",
            "KVB",
            "UGR",
            "GAS",
            "POWER",
            "VODOKANAL",
            "HEAT",
            "TELECOM",
            "HERITAGE",
        ] {
            assert!(codes.contains(&code), "{code} missing");
        }
        assert!(c.departments.iter().any(|d| d.external));
        assert!(
            !c.departments
                .iter()
                .find(|d| d.code == "KZIO")
                .unwrap()
                .external
        );
    }

    #[test]
    fn duplicate_codes_are_refused() {
        let text = "[[departments]]\ncode='A'\nname='a'\n[[departments]]\ncode='A'\nname='b'\n";
        assert!(matches!(
            Catalog::parse(text, "t"),
            Err(CatalogError::DuplicateDepartment { .. })
        ));
    }
}
