//! Stations near a point: a grid of cells a tenth of a degree square (about
//! 11 km north-south), so a search reads the few cells around the point
//! instead of every station, then orders what it found by great-circle
//! distance.

use std::collections::HashMap;

use vocab::StationId;

const CELL_DEG: f64 = 0.1;
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A cell of the grid, by its south-west corner in tenths of a degree.
type Cell = (i32, i32);

#[derive(Default, Debug)]
pub struct GeoIndex {
    /// The stations in each cell, with their latitude and longitude.
    cells: HashMap<Cell, Vec<(StationId, f64, f64)>>,
    at: HashMap<StationId, Cell>,
}

fn cell(lat: f64, lon: f64) -> Cell {
    ((lat / CELL_DEG).floor() as i32, (lon / CELL_DEG).floor() as i32)
}

/// Great-circle distance in metres (haversine).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

impl GeoIndex {
    /// Puts a station at a point, moving it if it was elsewhere.
    pub fn insert(&mut self, id: StationId, lat: f64, lon: f64) {
        self.remove(id);
        let c = cell(lat, lon);
        self.cells.entry(c).or_default().push((id, lat, lon));
        self.at.insert(id, c);
    }

    pub fn remove(&mut self, id: StationId) {
        if let Some(c) = self.at.remove(&id) {
            if let Some(list) = self.cells.get_mut(&c) {
                list.retain(|(s, _, _)| *s != id);
            }
        }
    }

    /// Stations within `radius_m` of the point, nearest first, at most `limit`.
    pub fn near(&self, lat: f64, lon: f64, radius_m: f64, limit: usize) -> Vec<(StationId, f64)> {
        let dlat = radius_m / 111_000.0;
        let dlon = radius_m / (111_000.0 * lat.to_radians().cos().abs().max(0.01));
        let (lo, hi) = (cell(lat - dlat, lon - dlon), cell(lat + dlat, lon + dlon));
        let mut found: Vec<(StationId, f64)> = (lo.0..=hi.0)
            .flat_map(|i| (lo.1..=hi.1).map(move |j| (i, j)))
            .filter_map(|c| self.cells.get(&c))
            .flatten()
            .map(|&(id, slat, slon)| (id, distance_m(lat, lon, slat, slon)))
            .filter(|(_, d)| *d <= radius_m)
            .collect();
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found.truncate(limit);
        found
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_known_ones() {
        // Nanjing Xinjiekou to Confucius Temple: about 2.2 km.
        let d = distance_m(32.0415, 118.7848, 32.0222, 118.7886);
        assert!((2_100.0..2_300.0).contains(&d), "{d}");
        assert!(distance_m(10.0, 20.0, 10.0, 20.0).abs() < 1e-6);
    }

    #[test]
    fn near_orders_by_distance_within_the_radius_across_cells() {
        let mut g = GeoIndex::default();
        g.insert(1, 32.0415, 118.7848); // the point itself
        g.insert(2, 32.0222, 118.7886); // 2.2 km, another cell row
        g.insert(3, 32.0600, 118.7970); // 2.3 km
        g.insert(4, 31.2304, 121.4737); // Shanghai, far away
        let ids: Vec<_> = g.near(32.0415, 118.7848, 5_000.0, 10).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(g.near(32.0415, 118.7848, 5_000.0, 2).len(), 2);
        assert_eq!(g.near(32.0415, 118.7848, 1_000.0, 10).len(), 1);
        // Moving a station moves it in the index.
        g.insert(1, 31.2305, 121.4738);
        let ids: Vec<_> = g.near(31.2304, 121.4737, 1_000.0, 10).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![4, 1]);
        assert_eq!(g.len(), 4);
    }
}
