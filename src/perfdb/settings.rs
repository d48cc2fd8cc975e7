//! Where the TRT_perf database is and how perf-run logs in: `DbSettings::resolve` turns the
//! `--db-*` flags and the `DB_*` environment into one validated value (flag > env > default).
//!
//! The password is a `SecretString` read from `DB_PASSWORD` or `--db-password-file`; it is
//! never a flag (DESIGN.md "Secrets"), never has a built-in default (reference §9.1 notes
//! that the legacy script ships one — not copied), and never appears in `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Exit, escape_for_message};

/// Default schema name (reference §9.1 `DB_SCHEMA`).
pub const DEFAULT_SCHEMA: &str = "TRT_perf";
/// Default MySQL port. (The legacy default 13306 is a site setting, so it is configuration.)
pub const DEFAULT_PORT: u16 = 3306;
/// Base URL of the TRTPerf page; the legacy script prints links to it (reference §9.1).
pub const DEFAULT_TRTPERF_URL: &str = "http://dlswqa.nvidia.com/trtperf";
/// How long to wait for the server to accept a connection and the login.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The sentence printed when someone passes `--db-password` on the command line.
pub const PASSWORD_ON_CLI_REFUSED: &str = "--db-password is refused: a password on the command line can be read by every user of this machine in `ps` and ends up in shell history and CI logs. Put it in the DB_PASSWORD environment variable (for example a Jenkins credentials binding) or in a file only you can read and pass --db-password-file FILE; the password you typed is now exposed, so consider changing it.";

/// A database setting that cannot be used. Every one is a mistake in what the user gave
/// (a flag, a variable, a file): exit code 2, and nothing is spooled.
#[derive(Debug, thiserror::Error)]
pub enum DbSettingsError {
    #[error("{PASSWORD_ON_CLI_REFUSED}")]
    PasswordOnCommandLine,
    #[error(
        "USE_TRT_PERF_DB=`{}` is neither true nor false; use true, false, 1, 0, yes, no, on or off.",
        escape_for_message(.value)
    )]
    UseTrtPerfDb { value: String },
    #[error(
        "The database port 0 is not valid; give a port between 1 and 65535 with --db-port or DB_PORT."
    )]
    PortZero,
    #[error("DB_PORT={value:?} is not a port number; set it to a number between 1 and 65535.")]
    BadPort { value: String },
    #[error("--db-connect-timeout must be at least 1 second.")]
    ConnectTimeoutZero,
    #[error(
        "{from} {value:?} is not a TLS mode; use disabled, preferred, required, verify-ca or verify-identity."
    )]
    TlsMode {
        /// `--db-ssl-mode` or `DB_SSL_MODE`.
        from: &'static str,
        value: String,
    },
    #[error(
        "The database CA file {} (--db-ssl-ca/DB_SSL_CA) does not exist or is not a file.",
        .path.display()
    )]
    CaFile { path: PathBuf },
    #[error("Cannot read the database password file {}: {err}.", .path.display())]
    ReadPasswordFile { path: PathBuf, err: std::io::Error },
    #[error(
        "The database password file {} is empty; its first line must be the password.",
        .path.display()
    )]
    EmptyPasswordFile { path: PathBuf },
    #[error("No database host is configured: pass --db-host HOST or set DB_HOST.")]
    NoHost,
    #[error("No database user is configured: pass --db-user USER or set DB_USER.")]
    NoUser,
    #[error(
        "No database password is configured: set DB_PASSWORD or pass --db-password-file FILE (never the password itself on the command line)."
    )]
    NoPassword,
}

impl DbSettingsError {
    /// Every database setting error is a mistake in what the user gave.
    pub fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// TLS to the database (MySQL's `--ssl-mode` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never TLS.
    Disabled,
    /// TLS when the server offers it, without checking its certificate (MySQL's default).
    Preferred,
    /// TLS or no connection; the certificate is not checked.
    Required,
    /// TLS with a certificate signed by `--db-ssl-ca` (or a system CA).
    VerifyCa,
    /// [`TlsMode::VerifyCa`], and the certificate names `--db-host`.
    VerifyIdentity,
}

impl TlsMode {
    pub fn parse(s: &str) -> Option<TlsMode> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "disabled" | "disable" | "off" => Some(TlsMode::Disabled),
            "preferred" | "prefer" => Some(TlsMode::Preferred),
            "required" | "require" => Some(TlsMode::Required),
            "verify-ca" => Some(TlsMode::VerifyCa),
            "verify-identity" | "verify-full" => Some(TlsMode::VerifyIdentity),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Preferred => "preferred",
            TlsMode::Required => "required",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyIdentity => "verify-identity",
        }
    }
}

/// Where the password came from (shown in dry-run output and messages, never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env,
    File(PathBuf),
    None,
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Env => write!(f, "from DB_PASSWORD"),
            PasswordSource::File(p) => write!(f, "from {}", p.display()),
            PasswordSource::None => write!(f, "not set"),
        }
    }
}

/// What the user asked for explicitly (the `--db-*` flags, converted by `crate::cli`): each
/// value wins over the `DB_*` environment. There is no password here: it is never a flag.
#[derive(Debug, Clone, Default)]
pub struct DbOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub schema: Option<String>,
    /// Read the password from this file (first line).
    pub password_file: Option<PathBuf>,
    /// Spool directory for uploads that could not reach the database.
    pub spool_dir: Option<PathBuf>,
    /// Base URL of the TRTPerf page.
    pub trtperf_url: Option<String>,
    /// Seconds.
    pub connect_timeout: Option<u64>,
    /// A TLS mode as written (checked with DB_SSL_MODE's value).
    pub ssl_mode: Option<String>,
    pub ssl_ca: Option<PathBuf>,
}

/// Validated database settings. `Debug` redacts the password (SecretString does).
#[derive(Clone)]
pub struct DbSettings {
    pub host: Option<String>,
    pub port: u16,
    pub user: Option<String>,
    pub schema: String,
    pub password: Option<SecretString>,
    pub password_source: PasswordSource,
    pub spool_dir: PathBuf,
    pub trtperf_url: String,
    pub connect_timeout: Duration,
    pub tls: TlsMode,
    pub tls_ca: Option<PathBuf>,
}

impl fmt::Debug for DbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("schema", &self.schema)
            .field(
                "password",
                &match self.password {
                    Some(_) => "<redacted>",
                    None => "<none>",
                },
            )
            .field("password_source", &self.password_source)
            .field("spool_dir", &self.spool_dir)
            .field("trtperf_url", &self.trtperf_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The runs home: `$PERF_RUN_HOME`, else `./perf-runs`.
pub fn runs_home(env: &impl Fn(&str) -> Option<String>) -> PathBuf {
    non_empty(env("PERF_RUN_HOME"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("perf-runs"))
}

/// Whether `perf-run run` should upload: `--upload`, or `USE_TRT_PERF_DB=true` unless
/// `--no-upload` (reference §2.1 `USE_TRT_PERF_DB`).
pub fn upload_wanted(
    flag_upload: bool,
    flag_no_upload: bool,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<bool, DbSettingsError> {
    if flag_no_upload {
        return Ok(false);
    }
    if flag_upload {
        return Ok(true);
    }
    match non_empty(env("USE_TRT_PERF_DB")) {
        None => Ok(false),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(DbSettingsError::UseTrtPerfDb { value: v }),
        },
    }
}

impl DbSettings {
    /// Flag > environment > default. Fails (exit 2) on an unreadable or empty password file,
    /// a malformed port, timeout or TLS mode, or a CA file that is not there.
    pub fn resolve(
        args: &DbOverrides,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<DbSettings, DbSettingsError> {
        let host = non_empty(args.host.clone()).or_else(|| non_empty(env("DB_HOST")));
        let user = non_empty(args.user.clone()).or_else(|| non_empty(env("DB_USER")));
        let schema = non_empty(args.schema.clone())
            .or_else(|| non_empty(env("DB_SCHEMA")))
            .unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
        let port = match args.port {
            Some(p) => p,
            None => match non_empty(env("DB_PORT")) {
                Some(s) => parse_port(&s)?,
                None => DEFAULT_PORT,
            },
        };
        if port == 0 {
            return Err(DbSettingsError::PortZero);
        }
        let (password, password_source) = match &args.password_file {
            Some(path) => (
                Some(read_password_file(path)?),
                PasswordSource::File(path.clone()),
            ),
            None => match env("DB_PASSWORD").filter(|s| !s.is_empty()) {
                Some(p) => (Some(SecretString::from(p)), PasswordSource::Env),
                None => (None, PasswordSource::None),
            },
        };
        let spool_dir = args
            .spool_dir
            .clone()
            .unwrap_or_else(|| runs_home(env).join("spool"));
        let trtperf_url = non_empty(args.trtperf_url.clone())
            .or_else(|| non_empty(env("TRTPERF_URL")))
            .unwrap_or_else(|| DEFAULT_TRTPERF_URL.to_string());
        let connect_timeout = match args.connect_timeout {
            Some(s) if s > 0 => Duration::from_secs(s),
            Some(_) => {
                return Err(DbSettingsError::ConnectTimeoutZero);
            }
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        let tls = match non_empty(args.ssl_mode.clone())
            .map(|m| (m, "--db-ssl-mode"))
            .or_else(|| non_empty(env("DB_SSL_MODE")).map(|m| (m, "DB_SSL_MODE")))
        {
            None => TlsMode::Preferred,
            Some((m, from)) => {
                TlsMode::parse(&m).ok_or(DbSettingsError::TlsMode { from, value: m })?
            }
        };
        let tls_ca = args
            .ssl_ca
            .clone()
            .or_else(|| non_empty(env("DB_SSL_CA")).map(PathBuf::from));
        if let Some(ca) = &tls_ca
            && !ca.is_file()
        {
            return Err(DbSettingsError::CaFile { path: ca.clone() });
        }
        Ok(DbSettings {
            host,
            port,
            user,
            schema,
            password,
            password_source,
            spool_dir,
            trtperf_url,
            connect_timeout,
            tls,
            tls_ca,
        })
    }

    /// `user@host:port/schema`, for messages (no password).
    pub fn target(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user.as_deref().unwrap_or("<no user>"),
            self.host.as_deref().unwrap_or("<no host>"),
            self.port,
            self.schema
        )
    }

    /// The TRTPerf page of one run, in the legacy format (reference §9.1).
    pub fn link_for(&self, run_id: u64) -> String {
        trtperf_link(&self.trtperf_url, run_id)
    }

    /// Check that everything needed to connect is there; says which setting is missing.
    pub fn require_complete(&self) -> Result<(&str, &str, &SecretString), DbSettingsError> {
        let host = self.host.as_deref().ok_or(DbSettingsError::NoHost)?;
        let user = self.user.as_deref().ok_or(DbSettingsError::NoUser)?;
        let password = self.password.as_ref().ok_or(DbSettingsError::NoPassword)?;
        Ok((host, user, password))
    }

    /// The password value, for redacting it out of anything printed.
    pub(crate) fn password_text(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }
}

/// `BASE?req=get_html&run_ids=N&…` exactly as `trt_perf_parser.py` prints it (reference §9.1).
pub fn trtperf_link(base: &str, run_id: u64) -> String {
    format!(
        "{}?req=get_html&run_ids={run_id}&baseline=--&target=--&drop_limit=5&time_limit=0.0&gap_limit=-999.9&only_show_drop=true",
        base.trim_end_matches(['?', '/'])
    )
}

fn parse_port(s: &str) -> Result<u16, DbSettingsError> {
    s.parse::<u16>().map_err(|_| DbSettingsError::BadPort {
        value: s.to_string(),
    })
}

fn read_password_file(path: &Path) -> Result<SecretString, DbSettingsError> {
    let text = std::fs::read_to_string(path).map_err(|err| DbSettingsError::ReadPasswordFile {
        path: path.to_path_buf(),
        err,
    })?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(DbSettingsError::EmptyPasswordFile {
            path: path.to_path_buf(),
        });
    }
    warn_if_world_readable(path);
    Ok(SecretString::from(first.to_string()))
}

#[cfg(unix)]
fn warn_if_world_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o004 != 0
    {
        crate::output::warn(format!(
            "The password file {} can be read by every user of this machine; run `chmod 600 {}`.",
            path.display(),
            path.display()
        ));
    }
}

#[cfg(not(unix))]
fn warn_if_world_readable(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let env = env_of(&[
            ("DB_HOST", "envhost"),
            ("DB_PORT", "13306"),
            ("DB_USER", "envuser"),
            ("DB_PASSWORD", "s3cr3t-env"),
        ]);
        let args = DbOverrides {
            host: Some("flaghost".into()),
            ..Default::default()
        };
        let s = DbSettings::resolve(&args, &env).unwrap();
        assert_eq!(s.host.as_deref(), Some("flaghost"));
        assert_eq!(s.port, 13306);
        assert_eq!(s.user.as_deref(), Some("envuser"));
        assert_eq!(s.schema, "TRT_perf");
        assert_eq!(s.password_source, PasswordSource::Env);
        assert_eq!(s.password_text(), Some("s3cr3t-env"));
        assert_eq!(s.spool_dir, PathBuf::from("perf-runs/spool"));

        let s = DbSettings::resolve(&DbOverrides::default(), &env_of(&[])).unwrap();
        assert_eq!(s.host, None, "no built-in host default");
        assert_eq!(s.user, None, "no built-in user default");
        assert_eq!(s.port, 3306);
        assert!(s.password.is_none(), "no built-in password default");
        assert!(s.require_complete().is_err());
    }

    #[test]
    fn password_file_wins_and_debug_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "from-file-pw\nignored\n").unwrap();
        let args = DbOverrides {
            password_file: Some(f.clone()),
            ..Default::default()
        };
        let s = DbSettings::resolve(&args, &env_of(&[("DB_PASSWORD", "env-pw")])).unwrap();
        assert_eq!(s.password_text(), Some("from-file-pw"));
        assert_eq!(s.password_source, PasswordSource::File(f));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("from-file-pw"), "{dbg}");
        assert!(dbg.contains("<redacted>"));

        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let args = DbOverrides {
            password_file: Some(dir.path().join("empty")),
            ..Default::default()
        };
        assert!(
            DbSettings::resolve(&args, &env_of(&[]))
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn tls_mode_flag_env_default() {
        let s = DbSettings::resolve(&DbOverrides::default(), &env_of(&[])).unwrap();
        assert_eq!(s.tls, TlsMode::Preferred);
        let s = DbSettings::resolve(
            &DbOverrides::default(),
            &env_of(&[("DB_SSL_MODE", "REQUIRED")]),
        )
        .unwrap();
        assert_eq!(s.tls, TlsMode::Required);
        let args = DbOverrides {
            ssl_mode: Some("verify_ca".into()),
            ..Default::default()
        };
        let s = DbSettings::resolve(&args, &env_of(&[("DB_SSL_MODE", "disabled")])).unwrap();
        assert_eq!(s.tls, TlsMode::VerifyCa);
        let e = DbSettings::resolve(
            &DbOverrides::default(),
            &env_of(&[("DB_SSL_MODE", "maybe")]),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("DB_SSL_MODE \"maybe\" is not a TLS mode"),
            "{e}"
        );
        let e = DbSettings::resolve(
            &DbOverrides::default(),
            &env_of(&[("DB_SSL_CA", "/nonexistent/ca.pem")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn bad_port_is_a_sentence() {
        let err = DbSettings::resolve(&DbOverrides::default(), &env_of(&[("DB_PORT", "abc")]))
            .unwrap_err();
        assert!(err.to_string().contains("DB_PORT=\"abc\""), "{err}");
        // A setting mistake is exit 2 wherever it surfaces (`run`, `upload`, `history`, …).
        let chained = anyhow::Error::new(err).context("the upload cannot start");
        assert_eq!(crate::ops::exit::exit_of(&chained), Exit::Usage);
    }

    #[test]
    fn link_format_matches_legacy() {
        assert_eq!(
            trtperf_link("http://dlswqa.nvidia.com/trtperf", 42),
            "http://dlswqa.nvidia.com/trtperf?req=get_html&run_ids=42&baseline=--&target=--&drop_limit=5&time_limit=0.0&gap_limit=-999.9&only_show_drop=true"
        );
    }

    #[test]
    fn upload_wanted_rules() {
        let on = env_of(&[("USE_TRT_PERF_DB", "true")]);
        let off = env_of(&[]);
        assert!(upload_wanted(false, false, &on).unwrap());
        assert!(!upload_wanted(false, true, &on).unwrap());
        assert!(upload_wanted(true, false, &off).unwrap());
        assert!(!upload_wanted(false, false, &off).unwrap());
        let no = env_of(&[("USE_TRT_PERF_DB", "No")]);
        assert!(!upload_wanted(false, false, &no).unwrap());
        // A typo is refused, not read as "no".
        let typo = env_of(&[("USE_TRT_PERF_DB", "tru")]);
        let e = upload_wanted(false, false, &typo).unwrap_err().to_string();
        assert!(e.contains("USE_TRT_PERF_DB=`tru`"), "{e}");
        // --no-upload wins over any value.
        assert!(!upload_wanted(false, true, &typo).unwrap());
    }

    #[test]
    fn runs_home_from_env() {
        assert_eq!(
            runs_home(&env_of(&[("PERF_RUN_HOME", "/x/runs")])),
            PathBuf::from("/x/runs")
        );
    }
}
