//! Certificates for the TLS tests, made by openssl as an operator would make them: a CA, the
//! certificates it signs, and the `kubernetes.io/tls` Secrets that carry them.

use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("cannot run openssl");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA `{ca}.pem` and `{ca}.key` (made the first time), and a certificate it signs for the
/// common name `name` and the alternative names `san` (`DNS:a.example,IP:127.0.0.1`), as
/// `{name}.pem` and `{name}.key`, valid for two days.
pub fn certificate(dir: &Path, ca: &str, name: &str, san: &str) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    if !dir.join(&ca_pem).exists() {
        let subject = format!("/CN={ca}");
        let args = ["-x509", "-days", "2", "-subj", &subject, "-keyout", &ca_key, "-out", &ca_pem];
        openssl(dir, &[&["req"][..], &ec, &args].concat());
    }
    let (key, csr, pem, subject) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("/CN={name}"));
    openssl(dir, &[&["req"][..], &ec, &["-subj", &subject, "-keyout", &key, "-out", &csr]].concat());
    std::fs::write(dir.join("san.ext"), format!("subjectAltName={san}\n")).unwrap();
    let sign = ["x509", "-req", "-days", "2", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-CAcreateserial"];
    openssl(dir, &[&sign[..], &["-extfile", "san.ext", "-out", &pem]].concat());
}

/// A `kubernetes.io/tls` Secret of `name`'s certificate and key, in base64 as kubectl writes it.
pub fn secret(dir: &Path, secret: &str, name: &str) -> String {
    let encoded = |file: String| {
        let output = Command::new("base64").args(["-w0", &file]).current_dir(dir).output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
        encoded(format!("{name}.pem")),
        encoded(format!("{name}.key"))
    )
}
