//! Certificates for the API server, as `kubeadm init` makes them (rcgen):
//! a cluster CA, the server's serving certificate for its addresses, and
//! client certificates whose Common Name is the user and whose
//! Organizations are the groups (kube-apiserver's x509 authenticator
//! reads them that way) — and the kubeconfig that carries them.

use base64::Engine;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// A certificate and its private key, PEM-encoded.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
}

/// A cluster CA and the API server's serving certificate.
pub struct Pki {
    ca: Certificate,
    ca_key: KeyPair,
    /// The CA certificate (PEM): what clients trust.
    pub ca_pem: String,
    /// The serving certificate, for `localhost`, `127.0.0.1`, `::1` and the
    /// extra names given.
    pub server: CertifiedKey,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn pki_error(what: &str, e: rcgen::Error) -> Error {
    Error::Certificate { what: what.to_owned(), reason: e.to_string() }
}

impl Pki {
    /// A new CA (`orch-ca`, 10 years) and a serving certificate (1 year)
    /// for loopback and `hosts` (DNS names or IP addresses).
    ///
    /// Errors: [`Error::Certificate`] if a key or certificate cannot be made.
    pub fn generate(hosts: &[&str]) -> Result<Pki, Error> {
        let ca_key = KeyPair::generate().map_err(|e| pki_error("the CA key", e))?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name = name("orch-ca", &[]);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let ca_cert = ca.self_signed(&ca_key).map_err(|e| pki_error("the CA", e))?;
        let ca_pem = ca_cert.pem();

        let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        names.extend(hosts.iter().map(|h| (*h).to_owned()));
        let mut params = CertificateParams::default();
        params.distinguished_name = name("orch-apiserver", &[]);
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| pki_error("the serving certificate's names", e))?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = sign(params, &ca_cert, &ca_key, "the serving certificate")?;
        Ok(Pki { ca: ca_cert, ca_key, ca_pem, server })
    }

    /// A client certificate for `user` in `groups` (CN and O, as
    /// kube-apiserver reads them; e.g. `system:node:node-1` in
    /// `system:nodes`, or `admin` in `system:masters`).
    ///
    /// Errors: [`Error::Certificate`].
    pub fn client(&self, user: &str, groups: &[&str]) -> Result<CertifiedKey, Error> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(user, groups);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        sign(params, &self.ca, &self.ca_key, "a client certificate")
    }

    /// A kubeconfig for `server` (`https://…`) that trusts this CA and
    /// authenticates with `client`, in `namespace`.
    pub fn kubeconfig(&self, server: &str, client: &CertifiedKey, namespace: &str) -> String {
        let user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&client.cert_pem),
            b64(&client.key_pem)
        );
        self.kubeconfig_for(server, &user, namespace)
    }

    /// A kubeconfig for `server` that trusts this CA and authenticates
    /// with the bearer `token` (kube-apiserver's `--token-auth-file`
    /// users, see [`Authenticator::token_file`](crate::Authenticator::token_file)).
    pub fn kubeconfig_with_token(&self, server: &str, token: &str, namespace: &str) -> String {
        self.kubeconfig_for(server, &format!("    token: {token:?}\n"), namespace)
    }

    fn kubeconfig_for(&self, server: &str, user: &str, namespace: &str) -> String {
        let cluster = format!("    certificate-authority-data: {}\n", b64(&self.ca_pem));
        crate::kubeconfig::document(server, &cluster, user, namespace)
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn name(common_name: &str, organizations: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    for o in organizations {
        dn.push(DnType::OrganizationName, *o);
    }
    dn
}

fn sign(
    mut params: CertificateParams,
    ca: &Certificate,
    ca_key: &KeyPair,
    what: &str,
) -> Result<CertifiedKey, Error> {
    let key = KeyPair::generate().map_err(|e| pki_error(what, e))?;
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let cert = params.signed_by(&key, ca, ca_key).map_err(|e| pki_error(what, e))?;
    Ok(CertifiedKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}
