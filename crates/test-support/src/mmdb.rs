//! A minimal writer of MaxMind DB files (the `.mmdb` format of GeoIP2 and GeoLite2), so tests
//! of the country lookup build their own tiny database instead of downloading one.
//!
//! It writes an IPv6 tree (IPv4 networks live under `::/96`, as in MaxMind's own files) with
//! 24-bit records, and one data record per country: `{"country": {"iso_code": "DE"}}`. The
//! format is MaxMind's published "MaxMind DB File Format Specification" 2.0.

use std::net::IpAddr;

/// A database under construction: networks and the country each belongs to.
#[derive(Debug, Default)]
pub struct CountryDb {
    networks: Vec<(Vec<bool>, String)>,
}

/// A node of the binary trie: its two children.
#[derive(Clone, Copy)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

impl CountryDb {
    pub fn new() -> CountryDb {
        CountryDb::default()
    }

    /// Adds `network/prefix` (IPv4 or IPv6) in `iso_code`'s country.
    pub fn insert(mut self, network: IpAddr, prefix: u8, iso_code: &str) -> CountryDb {
        let (bytes, offset): (Vec<u8>, usize) = match network {
            IpAddr::V4(v4) => (v4.octets().to_vec(), 96),
            IpAddr::V6(v6) => (v6.octets().to_vec(), 0),
        };
        let mut bits = vec![false; offset];
        let wanted = usize::from(prefix);
        for i in 0..wanted {
            bits.push(bytes[i / 8] & (0x80 >> (i % 8)) != 0);
        }
        self.networks.push((bits, iso_code.to_owned()));
        self
    }

    /// The database file's bytes.
    pub fn build(&self) -> Vec<u8> {
        // The data section: one map per distinct country.
        let mut data = Vec::new();
        let mut offsets: Vec<(String, usize)> = Vec::new();
        for (_, code) in &self.networks {
            if offsets.iter().all(|(c, _)| c != code) {
                offsets.push((code.clone(), data.len()));
                map(&mut data, 1);
                string(&mut data, "country");
                map(&mut data, 1);
                string(&mut data, "iso_code");
                string(&mut data, code);
            }
        }
        // The trie: node 0 is the root.
        let mut nodes: Vec<[Record; 2]> = vec![[Record::Empty, Record::Empty]];
        for (bits, code) in &self.networks {
            let data_offset = offsets
                .iter()
                .find(|(c, _)| c == code)
                .map(|(_, o)| *o)
                .unwrap_or_default();
            let mut node = 0;
            for (depth, bit) in bits.iter().enumerate() {
                let side = usize::from(*bit);
                if depth + 1 == bits.len() {
                    nodes[node][side] = Record::Data(data_offset);
                    break;
                }
                node = match nodes[node][side] {
                    Record::Node(next) => next,
                    _ => {
                        nodes.push([Record::Empty, Record::Empty]);
                        let next = nodes.len() - 1;
                        nodes[node][side] = Record::Node(next);
                        next
                    }
                };
            }
        }
        let node_count = nodes.len();
        let mut file = Vec::new();
        for node in &nodes {
            for record in node {
                let value = match *record {
                    Record::Empty => node_count,
                    Record::Node(next) => next,
                    Record::Data(offset) => node_count + 16 + offset,
                };
                let value = u32::try_from(value).expect("a small database");
                file.extend_from_slice(&value.to_be_bytes()[1..]);
            }
        }
        file.extend_from_slice(&[0; 16]);
        file.extend_from_slice(&data);
        file.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        map(&mut file, 9);
        string(&mut file, "binary_format_major_version");
        uint(&mut file, 5, 2);
        string(&mut file, "binary_format_minor_version");
        uint(&mut file, 5, 0);
        string(&mut file, "build_epoch");
        uint(&mut file, 9, 1_700_000_000);
        string(&mut file, "database_type");
        string(&mut file, "Test-Country");
        string(&mut file, "description");
        map(&mut file, 1);
        string(&mut file, "en");
        string(&mut file, "built by test-support");
        string(&mut file, "ip_version");
        uint(&mut file, 5, 6);
        string(&mut file, "languages");
        control(&mut file, 11, 1);
        string(&mut file, "en");
        string(&mut file, "node_count");
        uint(&mut file, 6, node_count as u64);
        string(&mut file, "record_size");
        uint(&mut file, 5, 24);
        file
    }
}

/// A control byte (and extended type byte) for `kind` with payload `size` (< 29).
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let size = u8::try_from(size)
        .ok()
        .filter(|s| *s < 29)
        .expect("a short field");
    if kind <= 7 {
        out.push((kind << 5) | size);
    } else {
        out.push(size);
        out.push(kind - 7);
    }
}

fn map(out: &mut Vec<u8>, entries: usize) {
    control(out, 7, entries);
}

fn string(out: &mut Vec<u8>, text: &str) {
    if text.len() < 29 {
        control(out, 2, text.len());
    } else {
        out.push((2 << 5) | 29);
        out.push(u8::try_from(text.len() - 29).expect("a short string"));
    }
    out.extend_from_slice(text.as_bytes());
}

/// An unsigned integer of type `kind` (5: uint16, 6: uint32, 9: uint64), big-endian in as
/// few bytes as it needs.
fn uint(out: &mut Vec<u8>, kind: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}
