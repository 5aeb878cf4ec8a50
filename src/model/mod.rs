//! The domain vocabulary shared by every module: departments, layers, features
//! and cadastral numbers. Pure data, no I/O.
//!
//! Coordinates in this module are EPSG:4326, longitude/latitude order in degrees
//! (CRS84 axis order, as GeoJSON), unless a name says otherwise.

mod cadastral;
mod department;
mod feature;
mod layer;

pub use cadastral::{Cadastral, CadastralError, CADASTRAL_FORMAT};
pub use department::Department;
pub use feature::{props, Feature, FeatureId, NewFeature, Properties};
pub use layer::{
    GeometryType, Layer, LayerCode, LayerCodeError, LayerKind, LayerSpec, ParseEnumError,
};
