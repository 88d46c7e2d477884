//! Traefik's TLS vocabulary: the words a `TLSOption` is written in (`minVersion:
//! VersionTLS12`, Go's cipher-suite and curve names, `clientAuthType`), what each one means,
//! and which of them serin's TLS library (rustls) can honour. `serin lint` refuses a word
//! Traefik would refuse, and the router builds its TLS settings from the same table, so the
//! two never disagree.
//!
//! rustls implements TLS 1.2 and 1.3 with AEAD suites and ECDHE key exchange only. The words
//! Go knows beyond those (TLS 1.0 and 1.1, CBC, RC4 and 3DES suites, RSA key exchange, P-521)
//! are accepted as Traefik accepts them and left out of what serin offers; the router says so
//! when it builds the options.

/// A TLS protocol version, as Traefik names it (`VersionTLS10` .. `VersionTLS13`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// The version a `minVersion` or `maxVersion` names, or `None` for a word Traefik does not
    /// know.
    pub fn parse(name: &str) -> Option<TlsVersion> {
        match name {
            "VersionTLS10" => Some(TlsVersion::Tls10),
            "VersionTLS11" => Some(TlsVersion::Tls11),
            "VersionTLS12" => Some(TlsVersion::Tls12),
            "VersionTLS13" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    /// Versions serin can speak: 1.2 and 1.3.
    pub fn supported(self) -> bool {
        self >= TlsVersion::Tls12
    }
}

/// Go's cipher-suite names as Traefik accepts them, each with the suite serin offers for it
/// (rustls' name), if any. TLS 1.3 suites cannot be turned off (as in Go): listing them
/// changes nothing.
pub const CIPHER_SUITES: &[(&str, Option<&str>)] = &[
    ("TLS_RSA_WITH_RC4_128_SHA", None),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", Some("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Some("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", Some("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", Some("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")),
    ("TLS_AES_128_GCM_SHA256", Some("TLS13_AES_128_GCM_SHA256")),
    ("TLS_AES_256_GCM_SHA384", Some("TLS13_AES_256_GCM_SHA384")),
    ("TLS_CHACHA20_POLY1305_SHA256", Some("TLS13_CHACHA20_POLY1305_SHA256")),
    ("TLS_FALLBACK_SCSV", None),
];

/// The curve names Traefik accepts in `curvePreferences` (Go's and the RFC's), each with the
/// key-exchange group serin offers for it (rustls' name), if any.
pub const CURVES: &[(&str, Option<&str>)] = &[
    ("secp256r1", Some("secp256r1")),
    ("CurveP256", Some("secp256r1")),
    ("secp384r1", Some("secp384r1")),
    ("CurveP384", Some("secp384r1")),
    ("secp521r1", None),
    ("CurveP521", None),
    ("x25519", Some("X25519")),
    ("X25519", Some("X25519")),
    ("x25519mlkem768", None),
    ("X25519MLKEM768", None),
    ("secp256r1mlkem768", None),
    ("SecP256r1MLKEM768", None),
    ("secp384r1mlkem1024", None),
    ("SecP384r1MLKEM1024", None),
];

/// What `lookup` found for a word of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    /// serin offers this (rustls' name).
    Offered(&'static str),
    /// Traefik knows the word; serin cannot offer it.
    NotOffered,
    /// Neither knows it: Traefik refuses the options.
    Unknown,
}

/// Looks a word up in [`CIPHER_SUITES`] or [`CURVES`].
pub fn lookup(table: &'static [(&'static str, Option<&'static str>)], word: &str) -> Word {
    match table.iter().find(|(name, _)| *name == word) {
        Some((_, Some(offered))) => Word::Offered(offered),
        Some((_, None)) => Word::NotOffered,
        None => Word::Unknown,
    }
}

/// Whether and how a client must show a certificate (`clientAuth.clientAuthType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthType {
    NoClientCert,
    /// Asked for, neither required nor verified.
    RequestClientCert,
    /// Required, not verified.
    RequireAnyClientCert,
    /// Verified against the CAs when given.
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    pub fn parse(name: &str) -> Option<ClientAuthType> {
        match name {
            "NoClientCert" => Some(ClientAuthType::NoClientCert),
            "RequestClientCert" => Some(ClientAuthType::RequestClientCert),
            "RequireAnyClientCert" => Some(ClientAuthType::RequireAnyClientCert),
            "VerifyClientCertIfGiven" => Some(ClientAuthType::VerifyClientCertIfGiven),
            "RequireAndVerifyClientCert" => Some(ClientAuthType::RequireAndVerifyClientCert),
            _ => None,
        }
    }

    /// The type in force: the one written, else (as Traefik decides) verification of a
    /// required certificate when CAs are given, and none when not.
    pub fn effective(written: Option<ClientAuthType>, has_cas: bool) -> ClientAuthType {
        match written {
            Some(kind) => kind,
            None if has_cas => ClientAuthType::RequireAndVerifyClientCert,
            None => ClientAuthType::NoClientCert,
        }
    }

    /// Verifying types need CAs to verify against.
    pub fn verifies(self) -> bool {
        matches!(self, ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert)
    }

    /// A client without a certificate is refused.
    pub fn mandatory(self) -> bool {
        matches!(self, ClientAuthType::RequireAnyClientCert | ClientAuthType::RequireAndVerifyClientCert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_their_support() {
        assert_eq!(TlsVersion::parse("VersionTLS13"), Some(TlsVersion::Tls13));
        assert_eq!(TlsVersion::parse("TLS13"), None);
        assert!(!TlsVersion::Tls11.supported() && TlsVersion::Tls12.supported());
    }

    #[test]
    fn words_are_offered_known_or_unknown() {
        let chacha = "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";
        assert_eq!(lookup(CIPHER_SUITES, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"), Word::Offered(chacha));
        assert_eq!(lookup(CIPHER_SUITES, "TLS_RSA_WITH_AES_128_CBC_SHA"), Word::NotOffered);
        assert_eq!(lookup(CIPHER_SUITES, "TLS_MADE_UP"), Word::Unknown);
        assert_eq!(lookup(CURVES, "CurveP256"), Word::Offered("secp256r1"));
        assert_eq!(lookup(CURVES, "CurveP521"), Word::NotOffered);
    }

    #[test]
    fn client_auth_defaults_to_verifying_when_cas_are_given() {
        assert_eq!(ClientAuthType::effective(None, true), ClientAuthType::RequireAndVerifyClientCert);
        assert_eq!(ClientAuthType::effective(None, false), ClientAuthType::NoClientCert);
        let asked = ClientAuthType::parse("RequestClientCert");
        assert_eq!(ClientAuthType::effective(asked, true), ClientAuthType::RequestClientCert);
        assert!(ClientAuthType::RequireAnyClientCert.mandatory() && !ClientAuthType::RequireAnyClientCert.verifies());
    }
}
