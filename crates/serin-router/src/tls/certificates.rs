//! The certificates the router serves, chosen by SNI as Traefik chooses them from its default
//! store: a certificate answers for its subject's common name and its DNS and IP
//! subject-alternative names; among those that match a server name (exactly, or with its first
//! label as `*`), the one whose sorted, comma-joined names compare highest wins; a client that
//! sends no server name is matched by the address it connected to; and when nothing matches,
//! the default certificate (the TLSStore's, else one serin made for itself) answers.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

/// A certificate chain with its key, and the names it answers for.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub(crate) key: Arc<CertifiedKey>,
    names: Vec<String>,
}

impl Certificate {
    /// A chain and its private key in PEM (a Secret's `tls.crt` and `tls.key`). Fails when
    /// either does not parse or the key is not the certificate's.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Certificate, String> {
        let chain = certificates_from_pem(chain)?;
        let leaf = chain.first().ok_or("the certificate chain holds no certificate")?;
        let names = names_of(leaf).ok_or("the certificate is not a DER X.509 certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("the private key is not PEM: {e}"))?;
        let provider = rustls::crypto::ring::default_provider();
        let key = CertifiedKey::from_der(chain, key, &provider).map_err(|e| format!("the key does not fit: {e}"))?;
        Ok(Certificate { key: Arc::new(key), names })
    }

    /// The certificate serin serves when no other matches and no TLSStore gives a default, as
    /// Traefik serves its generated "TRAEFIK DEFAULT CERT": self-signed, made once per process.
    pub fn generated() -> Certificate {
        static GENERATED: OnceLock<Certificate> = OnceLock::new();
        GENERATED
            .get_or_init(|| {
                let name = "serin.default.invalid".to_string();
                let mut params = rcgen::CertificateParams::new(vec![name]).expect("a valid DNS name");
                params.distinguished_name = rcgen::DistinguishedName::new();
                params.distinguished_name.push(rcgen::DnType::CommonName, "SERIN DEFAULT CERT");
                let key = rcgen::KeyPair::generate().expect("ECDSA P-256 key generation");
                let certificate = params.self_signed(&key).expect("self-signing");
                Certificate::from_pem(certificate.pem().as_bytes(), key.serialize_pem().as_bytes())
                    .expect("the generated certificate loads")
            })
            .clone()
    }

    /// The subject's common name and the subject-alternative names, lower-cased.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The certificates in a PEM text (a chain, or CAs).
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().map_err(|e| format!("a certificate is not PEM: {e}"))
}

/// The certificates of the default store, indexed for the lookup a handshake makes.
#[derive(Debug)]
pub struct CertificateStore {
    /// Each distinct certificate (by its names), highest sorted names first.
    certificates: Vec<Arc<CertifiedKey>>,
    /// Indices of the certificates answering for a name exactly.
    exact: HashMap<String, Vec<usize>>,
    /// Indices of the certificates with a `*.` name (trailing dots removed), by that name.
    wildcard: HashMap<String, Vec<usize>>,
    default: Arc<CertifiedKey>,
}

impl CertificateStore {
    /// The store of `certificates` (of two with the same names, the first is kept, as Traefik
    /// keeps it) and the default one.
    pub fn new(certificates: Vec<Certificate>, default: Option<Certificate>) -> CertificateStore {
        let mut keyed: Vec<(String, Certificate)> = Vec::new();
        for certificate in certificates {
            let mut names = certificate.names.clone();
            names.sort();
            let key = names.join(",");
            if !keyed.iter().any(|(other, _)| *other == key) {
                keyed.push((key, certificate));
            }
        }
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
        let (mut exact, mut wildcard) = (HashMap::<_, Vec<_>>::new(), HashMap::<_, Vec<_>>::new());
        for (index, (_, certificate)) in keyed.iter().enumerate() {
            for name in &certificate.names {
                exact.entry(name.clone()).or_default().push(index);
                let trimmed = name.trim_end_matches('.');
                if trimmed.starts_with('*') {
                    wildcard.entry(trimmed.to_string()).or_default().push(index);
                }
            }
        }
        CertificateStore {
            certificates: keyed.into_iter().map(|(_, c)| c.key).collect(),
            exact,
            wildcard,
            default: default.unwrap_or_else(Certificate::generated).key,
        }
    }

    /// The certificate for `server_name` (lower-cased), if one answers for it.
    pub fn best(&self, server_name: &str) -> Option<&Arc<CertifiedKey>> {
        let as_wildcard = match server_name.split_once('.') {
            Some((_, rest)) => format!("*.{rest}"),
            None => "*".to_string(),
        };
        let exact = self.exact.get(server_name).into_iter().flatten();
        let wildcard = self.wildcard.get(&as_wildcard).into_iter().flatten();
        exact.chain(wildcard).min().map(|&index| &self.certificates[index])
    }

    pub fn default_certificate(&self) -> &Arc<CertifiedKey> {
        &self.default
    }
}

/// The names a DER certificate answers for, as Go reads them for Traefik: the subject's common
/// name (the last one), then its DNS names and IP addresses, lower-cased, each once. `None`
/// when it is not a certificate.
pub fn names_of(der: &[u8]) -> Option<Vec<String>> {
    let mut certificate = Der(der).enter(SEQUENCE)?;
    let mut tbs = certificate.enter(SEQUENCE)?;
    if tbs.peek_tag()? == 0xa0 {
        tbs.next()?; // version
    }
    tbs.next()?; // serial number
    tbs.next()?; // signature algorithm
    tbs.next()?; // issuer
    tbs.next()?; // validity
    let subject = tbs.enter(SEQUENCE)?;
    tbs.next()?; // subject public key
    let mut names = Vec::new();
    if let Some(common_name) = common_name(subject) {
        names.push(common_name.to_lowercase());
    }
    while let Some((tag, content)) = tbs.next() {
        if tag == 0xa3 {
            let mut extensions = Der(content).enter(SEQUENCE)?;
            while let Some((_, extension)) = extensions.next() {
                subject_alt_names(Der(extension), &mut names)?;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    Some(names)
}

const SEQUENCE: u8 = 0x30;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The last common name among a Name's relative distinguished names.
fn common_name(mut name: Der<'_>) -> Option<String> {
    let mut found = None;
    while let Some((_, set)) = name.next() {
        let mut set = Der(set);
        while let Some((_, attribute)) = set.next() {
            let mut attribute = Der(attribute);
            let (oid_tag, oid) = attribute.next()?;
            let (_, value) = attribute.next()?;
            if oid_tag == 0x06 && oid == OID_COMMON_NAME {
                found = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
    }
    found
}

/// Adds the DNS names and IP addresses of an Extension, if it is subjectAltName.
fn subject_alt_names(mut extension: Der<'_>, names: &mut Vec<String>) -> Option<()> {
    let (_, oid) = extension.next()?;
    if oid != OID_SUBJECT_ALT_NAME {
        return Some(());
    }
    let (mut tag, mut value) = extension.next()?;
    if tag == 0x01 {
        (tag, value) = extension.next()?; // critical
    }
    if tag != 0x04 {
        return None;
    }
    let mut general_names = Der(value).enter(SEQUENCE)?;
    while let Some((tag, value)) = general_names.next() {
        match (tag, value.len()) {
            (0x82, _) => names.push(String::from_utf8_lossy(value).to_lowercase()),
            (0x87, 4) => names.push(Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?).to_string()),
            (0x87, 16) => names.push(Ipv6Addr::from(<[u8; 16]>::try_from(value).ok()?).to_string()),
            _ => {}
        }
    }
    Some(())
}

/// A reader of DER's tag-length-value items, each `next` the following item of one level.
#[derive(Clone, Copy)]
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (length, rest) = match first {
            0..=0x7f => (first as usize, rest),
            0x81..=0x84 => {
                let count = (first & 0x7f) as usize;
                let bytes = rest.get(..count)?;
                (bytes.iter().fold(0usize, |n, b| n << 8 | *b as usize), &rest[count..])
            }
            _ => return None,
        };
        let content = rest.get(..length)?;
        self.0 = &rest[length..];
        Some((tag, content))
    }

    /// The content of the next item, which must have `tag`.
    fn enter(&mut self, tag: u8) -> Option<Der<'a>> {
        match self.next()? {
            (found, content) if found == tag => Some(Der(content)),
            _ => None,
        }
    }
}
