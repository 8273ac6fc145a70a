//! The country of an IP address, from the MaxMind-format database at `GEOIP_DB` (GeoLite2 or
//! GeoIP2 Country or City, or any `.mmdb` with `country.iso_code`). The file is read into
//! memory once at start; without `GEOIP_DB` every `country` is `null`.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{PathElement, Reader};

/// An open GeoIP database.
pub struct Geo {
    reader: Reader<Vec<u8>>,
}

/// Why `GEOIP_DB` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("GEOIP_DB `{path}` is not a readable MaxMind database: {source}")]
pub struct GeoError {
    path: String,
    source: maxminddb::MaxMindDbError,
}

impl Geo {
    /// Opens the database at `path`.
    pub fn open(path: &Path) -> Result<Geo, GeoError> {
        let reader = Reader::open_readfile(path).map_err(|source| GeoError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Geo { reader })
    }

    /// A database already in memory (tests build one).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Geo, GeoError> {
        let reader = Reader::from_source(bytes).map_err(|source| GeoError {
            path: "(in memory)".into(),
            source,
        })?;
        Ok(Geo { reader })
    }

    /// The ISO 3166-1 alpha-2 code of the country `ip` is in: where the database places it,
    /// else where its block is registered; `None` when it does not know.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let found = self.reader.lookup(ip).ok()?;
        ["country", "registered_country"]
            .into_iter()
            .find_map(|record| {
                let path = [PathElement::Key(record), PathElement::Key("iso_code")];
                found.decode_path::<&str>(&path).ok().flatten()
            })
            .filter(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()))
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::mmdb::CountryDb;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn an_address_gets_the_country_of_its_network() {
        let bytes = CountryDb::new()
            .insert(ip("203.0.113.0"), 24, "DE")
            .insert(ip("198.51.100.0"), 25, "FR")
            .insert(ip("2001:db8::"), 32, "JP")
            .build();
        let geo = Geo::from_bytes(bytes).expect("a database");
        assert_eq!(geo.country(ip("203.0.113.7")).as_deref(), Some("DE"));
        assert_eq!(geo.country(ip("198.51.100.1")).as_deref(), Some("FR"));
        assert_eq!(geo.country(ip("198.51.100.200")), None);
        assert_eq!(geo.country(ip("2001:db8::1")).as_deref(), Some("JP"));
        assert_eq!(geo.country(ip("192.0.2.1")), None);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("bad.mmdb");
        std::fs::write(&path, b"not a database").expect("written");
        let error = Geo::open(&path).err().expect("refused").to_string();
        assert!(error.contains("GEOIP_DB"), "{error}");
    }
}
