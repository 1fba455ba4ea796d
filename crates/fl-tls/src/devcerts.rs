//! Development PKI with rcgen: one CA, one server certificate, one certificate per client.
//! For tests and local runs only; see docs/SECURITY.md for production guidance.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::CertGenError;
use crate::identity::{CLIENT_URI_PREFIX, validate_client_id};

/// Longest validity accepted, in days (about 10 years).
pub const MAX_DAYS: u32 = 3650;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevCertSpec {
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// DNS name put in the server certificate (CN and DNS SAN).
    pub server_name: String,
    /// Extra IP SANs for the server certificate.
    pub server_ips: Vec<IpAddr>,
    /// Client ids; each gets `<id>.pem` and `<id>.key`.
    pub clients: Vec<String>,
    /// Validity in days from now (1..=[`MAX_DAYS`]).
    pub days: u32,
    /// Make the server and client certificates already expired (for negative tests).
    pub expired: bool,
    /// Overwrite existing files.
    pub force: bool,
}

/// A certificate and its key in PEM.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// Certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 private key PEM.
    pub key_pem: String,
}

/// A freshly generated CA that can sign further certificates in memory.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

/// Validity window `[now - 1 day, now + days]`, or an expired one (`[now - 30 d, now - 1 d]`).
fn validity(params: &mut CertificateParams, days: u32, expired: bool) {
    let now = OffsetDateTime::now_utc();
    if expired {
        params.not_before = now - Duration::days(30);
        params.not_after = now - Duration::days(1);
    } else {
        // Backdate a little so small clock skew between hosts does not reject a fresh cert.
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(i64::from(days));
    }
}

fn check_days(days: u32) -> Result<(), CertGenError> {
    if days == 0 || days > MAX_DAYS {
        return Err(CertGenError::BadArgument(format!(
            "--days must be between 1 and {MAX_DAYS}, got {days}"
        )));
    }
    Ok(())
}

impl DevCa {
    /// Generates a self-signed CA ("fl dev CA <cn_suffix>") valid for `days`.
    pub fn generate(cn_suffix: &str, days: u32) -> Result<Self, CertGenError> {
        check_days(days)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("fl dev CA {cn_suffix}").trim().to_owned(),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, days, false);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { issuer })
    }

    /// The CA certificate and key in PEM.
    pub fn pem(&self) -> PemPair {
        PemPair {
            cert_pem: self.issuer.pem(),
            key_pem: self.issuer.key().serialize_pem(),
        }
    }

    /// Issues a server certificate for `name` (CN + DNS SAN) and `ips` (IP SANs).
    pub fn server_cert(
        &self,
        name: &str,
        ips: &[IpAddr],
        days: u32,
        expired: bool,
    ) -> Result<PemPair, CertGenError> {
        check_days(days)?;
        if name.is_empty() || !name.is_ascii() || name.contains(char::is_whitespace) {
            return Err(CertGenError::BadArgument(format!(
                "--server-name {name:?} must be a non-empty ASCII DNS name"
            )));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.subject_alt_names = vec![SanType::DnsName(name.try_into()?)];
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, days, expired);
        self.sign(params)
    }

    /// Issues a client certificate: CN, DNS SAN and `urn:fl:client:<id>` URI SAN carry the id.
    pub fn client_cert(&self, id: &str, days: u32, expired: bool) -> Result<PemPair, CertGenError> {
        check_days(days)?;
        validate_client_id(id).map_err(CertGenError::BadArgument)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, id);
        params.subject_alt_names = vec![
            SanType::URI(format!("{CLIENT_URI_PREFIX}{id}").try_into()?),
            SanType::DnsName(id.try_into()?),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, days, expired);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<PemPair, CertGenError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(PemPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Writes `contents` to `path`, refusing to overwrite unless `force`; keys get mode 0600
/// from creation on (never world-readable, not even briefly).
fn write_file(path: &Path, contents: &str, secret: bool, force: bool) -> Result<(), CertGenError> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let wrap = |source| CertGenError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CertGenError::Exists(path.to_path_buf())
        } else {
            wrap(e)
        }
    })?;
    // With --force the file may have existed with looser permissions: tighten them.
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(wrap)?;
    }
    f.write_all(contents.as_bytes()).map_err(wrap)?;
    f.sync_all().map_err(wrap)
}

/// Generates the whole dev PKI into `spec.out` and returns the paths written.
///
/// All argument checks and existing-file checks run before anything is written, so a bad
/// client id or an existing file leaves the directory untouched.
pub fn generate_dev_pki(spec: &DevCertSpec) -> Result<Vec<PathBuf>, CertGenError> {
    check_days(spec.days)?;
    let mut seen = std::collections::BTreeSet::new();
    for id in &spec.clients {
        validate_client_id(id).map_err(CertGenError::BadArgument)?;
        if matches!(id.as_str(), "ca" | "server") {
            return Err(CertGenError::BadArgument(format!(
                "client id {id:?} clashes with the CA/server file names"
            )));
        }
        if !seen.insert(id) {
            return Err(CertGenError::BadArgument(format!(
                "client id {id:?} given twice"
            )));
        }
    }
    let mut files: Vec<(PathBuf, String, bool)> = Vec::new();
    let ca = DevCa::generate(&spec.server_name, spec.days)?;
    let mut push = |stem: &str, pair: PemPair| {
        files.push((spec.out.join(format!("{stem}.pem")), pair.cert_pem, false));
        files.push((spec.out.join(format!("{stem}.key")), pair.key_pem, true));
    };
    push("ca", ca.pem());
    push(
        "server",
        ca.server_cert(&spec.server_name, &spec.server_ips, spec.days, spec.expired)?,
    );
    for id in &spec.clients {
        push(id, ca.client_cert(id, spec.days, spec.expired)?);
    }
    if !spec.force
        && let Some((p, _, _)) = files.iter().find(|(p, _, _)| p.exists())
    {
        return Err(CertGenError::Exists(p.clone()));
    }
    std::fs::create_dir_all(&spec.out).map_err(|source| CertGenError::Write {
        path: spec.out.clone(),
        source,
    })?;
    for (path, contents, secret) in &files {
        write_file(path, contents, *secret, spec.force)?;
    }
    Ok(files.into_iter().map(|(p, _, _)| p).collect())
}
