//! Where a run executes, as the run directory records it (`run.json`'s `cluster`), and the one
//! connection to it.

use serde::{Deserialize, Serialize};

use super::{AnyRemote, LocalRemote, RemoteError, SshOptions, SshRemote};
use crate::config::settings::{ClusterType, Settings};
use crate::output;

/// Where the run executes (enough to reconnect on resume).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterRef {
    pub name: Option<String>,
    /// `ssh` or `local` in run.json.
    pub kind: ClusterType,
    pub host: Option<String>,
    /// The user the cluster sees (configured, or what the ssh config says).
    pub user: Option<String>,
    /// Whether `user` was configured for perf-run and is passed to ssh (`-l`). `false`: ssh's
    /// own config decides. Run directories written before this field passed `user`.
    #[serde(default = "yes")]
    pub user_configured: bool,
    /// `ssh -F`: the ssh config file of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_config: Option<std::path::PathBuf>,
    pub workdir: String,
}

fn yes() -> bool {
    true
}

impl ClusterRef {
    /// Where the settings say the run executes.
    pub fn of(s: &Settings) -> ClusterRef {
        ClusterRef {
            name: s.cluster_name.clone(),
            kind: s.cluster_type,
            host: s.host.clone(),
            user: s.user.clone(),
            user_configured: s.ssh_user.is_some(),
            ssh_config: s.ssh_config.clone(),
            workdir: s.workdir.clone(),
        }
    }
}

/// Connect to the cluster described by `c` (the one ssh handshake of this process).
pub async fn connect(c: &ClusterRef) -> Result<AnyRemote, RemoteError> {
    match c.kind {
        ClusterType::Local => Ok(AnyRemote::Local(LocalRemote::new())),
        ClusterType::Ssh => {
            let host = c.host.as_deref().ok_or(RemoteError::NoHost)?;
            // A configured user (flag, env, profile) wins; otherwise the ssh config decides
            // and perf-run passes no user at all.
            let user = c.user.as_deref().filter(|_| c.user_configured);
            output::detail(format!(
                "connecting to {host} as {}",
                match user {
                    Some(u) => format!("{u} (configured)"),
                    None => format!(
                        "{} (from the ssh config)",
                        c.user.as_deref().unwrap_or("the ssh config's user")
                    ),
                }
            ));
            let mut opts = SshOptions::new(host, user);
            opts.config_file = c.ssh_config.clone();
            Ok(AnyRemote::Ssh(Box::new(SshRemote::connect(opts).await?)))
        }
    }
}
