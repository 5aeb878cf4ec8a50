//! scratch
mod outline;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the embedded district outlines: {0}")]
    Outline(String),
    #[error(transparent)]
    Crs(#[from] crate::crs::CrsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[cfg(test)]
mod scratch {
    use super::*;
    use crate::crs::{Transformer, KAZAN_METRIC_SRS};
    use geo::{Area, BooleanOps, Validation};
    #[test]
    fn scratch() {
        let to = Transformer::to_metric(KAZAN_METRIC_SRS).unwrap();
        let from = Transformer::from_metric(KAZAN_METRIC_SRS).unwrap();
        let d = outline::districts(&to).unwrap();
        for x in &d { println!("{} {} valid={} area={}", x.name, x.metric.0.len(), x.metric.is_valid(), x.metric.unsigned_area()/1e6); }
        let t = std::time::Instant::now();
        let u = geo::unary_union(d.iter().map(|x| &x.metric));
        println!("union {:?} parts {} holes {:?} area {}", t.elapsed(), u.0.len(), u.0.iter().map(|p| p.interiors().iter().map(|r| geo::Area::unsigned_area(&geo_types::Polygon::new(r.clone(), vec![]))).collect::<Vec<_>>()).collect::<Vec<_>>(), u.unsigned_area()/1e6);
        let t = std::time::Instant::now();
        let mut s = 0.0;
        for k in 0..200000 { let c = from.coord(geo_types::Coord{x: 380000.0 + k as f64, y: 6185000.0}).unwrap(); s += c.x; }
        println!("200k proj {:?} {s}", t.elapsed());
        let _ = u.union(&u);
    }
}
