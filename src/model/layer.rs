use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a layer is for; drives styling, queries (constraints read `zones`)
/// and which layers may carry cadastral numbers (`parcels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// Land plots, addressable by cadastral number.
    Parcels,
    /// Utility networks: water, sewer, gas, power, heat, telecom.
    Utilities,
    /// Permit and restriction zones: protection zones, heritage, territorial zoning.
    Zones,
    /// Everything else: districts, streets, water bodies, heritage objects.
    Other,
}

/// The geometry type a layer declares. `Geometry` allows any mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GeometryType {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    Geometry,
}

#[derive(Debug, thiserror::Error)]
#[error("'{value}' is not a {what}; expected one of: {expected}")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl LayerKind {
    pub const ALL: [LayerKind; 4] = [Self::Parcels, Self::Utilities, Self::Zones, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parcels => "parcels",
            Self::Utilities => "utilities",
            Self::Zones => "zones",
            Self::Other => "other",
        }
    }
}

impl FromStr for LayerKind {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseEnumError {
                what: "layer kind",
                value: s.to_owned(),
                expected: "parcels, utilities, zones, other",
            })
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl GeometryType {
    pub const ALL: [GeometryType; 7] = [
        Self::Point,
        Self::LineString,
        Self::Polygon,
        Self::MultiPoint,
        Self::MultiLineString,
        Self::MultiPolygon,
        Self::Geometry,
    ];

    /// The OGC simple-features name, as GeoPackage `gpkg_geometry_columns`
    /// and PostGIS `geometry(…)` spell it (upper case).
    pub fn ogc_name(self) -> &'static str {
        match self {
            Self::Point => "POINT",
            Self::LineString => "LINESTRING",
            Self::Polygon => "POLYGON",
            Self::MultiPoint => "MULTIPOINT",
            Self::MultiLineString => "MULTILINESTRING",
            Self::MultiPolygon => "MULTIPOLYGON",
            Self::Geometry => "GEOMETRY",
        }
    }

    /// Whether a geometry may be stored in a layer of this type. A single part
    /// is accepted in its multi type (importers rarely keep the two apart).
    pub fn accepts(self, g: &geo_types::Geometry<f64>) -> bool {
        use geo_types::Geometry as G;
        matches!(
            (self, g),
            (Self::Geometry, _)
                | (Self::Point, G::Point(_))
                | (Self::LineString, G::LineString(_))
                | (Self::Polygon, G::Polygon(_))
                | (Self::MultiPoint, G::MultiPoint(_) | G::Point(_))
                | (
                    Self::MultiLineString,
                    G::MultiLineString(_) | G::LineString(_)
                )
                | (Self::MultiPolygon, G::MultiPolygon(_) | G::Polygon(_))
        )
    }
}

impl FromStr for GeometryType {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.ogc_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseEnumError {
                what: "geometry type",
                value: s.to_owned(),
                expected: "POINT, LINESTRING, POLYGON, MULTIPOINT, MULTILINESTRING, MULTIPOLYGON, GEOMETRY",
            })
    }
}

impl fmt::Display for GeometryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ogc_name())
    }
}

/// A layer code: the stable identifier users, URLs and the GeoPackage table
/// name use. Lower-case ASCII letter first, then letters, digits, `_`; at most
/// 63 bytes (PostgreSQL's identifier limit). Because of this whitelist a code
/// is safe to use as a GeoPackage table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LayerCode(String);

#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a layer code; expected a lower-case letter, then lower-case letters, digits or '_' (at most 63)")]
pub struct LayerCodeError(pub String);

impl LayerCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LayerCode {
    type Err = LayerCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = s.bytes();
        let ok = s.len() <= 63
            && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            // Names the GeoPackage reserves for its own tables.
            && !s.starts_with("gpkg_")
            && !s.starts_with("rtree_")
            && !s.starts_with("imgis_")
            && !s.starts_with("sqlite_");
        if ok {
            Ok(LayerCode(s.to_owned()))
        } else {
            Err(LayerCodeError(s.chars().take(64).collect()))
        }
    }
}

impl fmt::Display for LayerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LayerCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a caller says about a layer when creating or updating it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSpec {
    pub code: LayerCode,
    /// Human title, may be Cyrillic ("Земельные участки").
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub kind: LayerKind,
    /// Code of the owning department; only it may edit the layer.
    pub department: Option<String>,
    pub geometry_type: GeometryType,
    /// Published to the public role (tiles, features) or internal.
    #[serde(default = "yes")]
    pub public: bool,
}

impl LayerSpec {
    /// Where the layer goes in a map's stack, bottom first: areas under lines
    /// under points; among areas, reference areas (districts, rivers) under
    /// plots under zones (drawn translucent over the plots they restrict);
    /// among lines, streets under utility networks. Sort by it, then by code.
    pub fn draw_rank(&self) -> (u8, u8) {
        let shape = match self.geometry_type {
            GeometryType::Polygon | GeometryType::MultiPolygon | GeometryType::Geometry => 0,
            GeometryType::LineString | GeometryType::MultiLineString => 1,
            GeometryType::Point | GeometryType::MultiPoint => 2,
        };
        let kind = match self.kind {
            LayerKind::Other => 0,
            LayerKind::Parcels => 1,
            LayerKind::Zones => 2,
            LayerKind::Utilities => 3,
        };
        (shape, kind)
    }
}

fn yes() -> bool {
    true
}

/// A layer as the store knows it: its spec, plus the version that every
/// successful write bumps and the time of that write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    #[serde(flatten)]
    pub spec: LayerSpec,
    /// 0 for a layer created empty; +1 with every committed import or edit.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    /// Number of features as of `version`.
    pub feature_count: i64,
}

impl Layer {
    pub fn code(&self) -> &LayerCode {
        &self.spec.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_codes_are_whitelisted() {
        for good in ["parcels", "gas_2024", "a"] {
            assert!(good.parse::<LayerCode>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "Parcels",
            "1abc",
            "a-b",
            "a b",
            "x;drop",
            "gpkg_contents",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<LayerCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn geometry_type_names_round_trip() {
        for t in GeometryType::ALL {
            assert_eq!(t.ogc_name().parse::<GeometryType>().unwrap(), t);
        }
    }
}
