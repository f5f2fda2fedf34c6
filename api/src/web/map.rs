//! The drivers' app's map, only where an operator configured a tile server
//! (`map_tiles_url`, e.g. `https://tile.example/{z}/{x}/{y}.png`): the app's
//! station list then shows the stations on tiles from that one host, drawn
//! by the page's own script, and the pages' Content-Security-Policy lets
//! images come from that host and no other. Without the setting there is no
//! map and no request leaves the platform.

/// The configured tile server, if any.
#[derive(Clone, Debug, Default)]
pub struct Tiles(Option<Tile>);

#[derive(Clone, Debug)]
struct Tile {
    /// With `{z}`, `{x}` and `{y}` to fill in.
    url: String,
    /// `scheme://host[:port]`, for the CSP.
    origin: String,
}

impl Tiles {
    /// Checks `map_tiles_url`; a URL the CSP cannot name safely is refused.
    pub fn parse(url: Option<&str>) -> Result<Tiles, String> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(Tiles(None)) };
        let bad = |why: &str| format!("map_tiles_url {url:?}: {why}");
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| bad("not an http(s) URL"))?;
        if !["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p)) {
            return Err(bad("needs {z}, {x} and {y}"));
        }
        if url.chars().any(|c| c.is_whitespace() || matches!(c, ';' | ',' | '\'' | '"' | '<' | '>')) {
            return Err(bad("has a character a URL here may not"));
        }
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains('@') {
            return Err(bad("names no host"));
        }
        let scheme = &url[..url.len() - rest.len()];
        Ok(Tiles(Some(Tile { url: url.to_owned(), origin: format!("{scheme}{host}") })))
    }

    pub fn url(&self) -> Option<&str> {
        self.0.as_ref().map(|t| t.url.as_str())
    }

    pub fn origin(&self) -> Option<&str> {
        self.0.as_ref().map(|t| t.origin.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Tiles;

    #[test]
    fn a_tile_url_names_its_origin_and_odd_ones_are_refused() {
        let t = Tiles::parse(Some("https://tile.example:8443/osm/{z}/{x}/{y}.png")).unwrap();
        assert_eq!(t.origin(), Some("https://tile.example:8443"));
        assert_eq!(Tiles::parse(None).unwrap().url(), None);
        assert_eq!(Tiles::parse(Some(" ")).unwrap().url(), None);
        for bad in [
            "ftp://tile.example/{z}/{x}/{y}",
            "https://tile.example/{z}/{x}.png",
            "https://tile.example/{z}/{x}/{y}.png; script-src *",
            "https:///{z}/{x}/{y}",
            "https://u@tile.example/{z}/{x}/{y}",
        ] {
            assert!(Tiles::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
