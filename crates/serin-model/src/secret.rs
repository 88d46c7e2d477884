//! The core `v1` Secret. serin reads the `kubernetes.io/tls` ones: the certificates its router
//! serves for IngressRoutes (`spec.tls.secretName`) and TLSStores, and the CAs a TLSOption
//! verifies client certificates against. Their values are never shown to a caller without the
//! API token.

use crate::meta::ObjectMeta;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

/// The type of a Secret holding a certificate chain (`tls.crt`) and its key (`tls.key`).
pub const TLS_TYPE: &str = "kubernetes.io/tls";

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(rename = "type")]
    pub kind_of_secret: Option<String>,
    /// Values in base64, as Kubernetes stores them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Values in clear, which Kubernetes merges into `data` on write (they win over it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    pub immutable: Option<bool>,
}

impl Secret {
    /// The value under `key`: from `stringData` if there, else decoded from `data`.
    pub fn value(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        if let Some(text) = self.string_data.get(key) {
            return Ok(Some(text.as_bytes().to_vec()));
        }
        match self.data.get(key) {
            None => Ok(None),
            Some(encoded) => decode(encoded).map(Some),
        }
    }
}

/// A `data` value, in base64 as Kubernetes writes it (padding required, no line breaks).
pub fn decode(encoded: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("not valid base64 ({e}); write the value in clear under stringData instead"))
}

/// Checks that `pem` holds at least one certificate and nothing that is not one: a chain as
/// `tls.crt` carries it. Returns how many certificates there are.
pub fn check_certificates(pem: &[u8]) -> Result<usize, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let der = certificate.map_err(|e| format!("not a PEM certificate: {e}"))?;
        // An X.509 certificate is a DER SEQUENCE; the router parses it whole when it loads.
        if der.first() != Some(&0x30) {
            return Err(format!("certificate {} is not X.509 (DER)", count + 1));
        }
        count += 1;
    }
    match count {
        0 => Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()),
        n => Ok(n),
    }
}

/// Checks that `pem` holds a private key (PKCS#8, PKCS#1 or SEC1), as `tls.key` does.
pub fn check_private_key(pem: &[u8]) -> Result<(), String> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem).map(drop).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => "holds no PEM private key (-----BEGIN PRIVATE KEY-----)".into(),
        e => format!("not a PEM private key: {e}"),
    })
}
