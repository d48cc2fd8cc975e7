//! Which user ssh logs in as for a host, from the user's ssh configuration (`ssh -G`), so
//! the settings can say who perf-run will be on the cluster without connecting.

use std::path::Path;

/// The user ssh logs in as for `host`, from its configuration, without connecting:
/// `ssh [-F config] -G host` prints the effective options, one `keyword value` a line.
pub fn ssh_config_user(host: &str, config: Option<&Path>) -> Result<String, String> {
    let mut cmd = std::process::Command::new("ssh");
    if let Some(f) = config {
        cmd.arg("-F").arg(f);
    }
    // `--` keeps a host that starts with `-` from being read as an option.
    cmd.arg("-G").arg("--").arg(host);
    cmd.stdin(std::process::Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run `ssh -G`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "`ssh -G {host}` failed: {}",
            err.lines().next().unwrap_or("no message").trim()
        ));
    }
    parse_ssh_g_user(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("`ssh -G {host}` printed no `user` line"))
}

/// The `user` line of `ssh -G` output (keywords are lower-case there).
pub fn parse_ssh_g_user(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.trim().split_once(char::is_whitespace)?;
        (k.eq_ignore_ascii_case("user") && !v.trim().is_empty()).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_line_of_ssh_g() {
        let out =
            "host slurm-login\nuser perfci\nhostname 127.0.0.1\nport 2222\nuserknownhostsfile /k\n";
        assert_eq!(parse_ssh_g_user(out).as_deref(), Some("perfci"));
        // Keyword case and order do not matter; `userknownhostsfile` is not `user`.
        assert_eq!(
            parse_ssh_g_user("userknownhostsfile /k\nUser alice\n").as_deref(),
            Some("alice")
        );
        assert_eq!(parse_ssh_g_user("hostname x\nport 22\n"), None);
        assert_eq!(parse_ssh_g_user("user \n"), None);
    }

    #[test]
    fn ssh_g_reads_the_given_config_without_connecting() {
        if which::which("ssh").is_err() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host far-away\n  HostName 192.0.2.1\n  User alice\n  ProxyJump bastion\n",
        )
        .unwrap();
        // 192.0.2.1 is TEST-NET: a connection attempt would hang, -G does not try.
        assert_eq!(
            ssh_config_user("far-away", Some(&cfg)).as_deref(),
            Ok("alice")
        );
        assert_eq!(
            ssh_config_user("bob@far-away", Some(&cfg)).as_deref(),
            Ok("bob")
        );
        let err = ssh_config_user("far-away", Some(&dir.path().join("missing"))).unwrap_err();
        assert!(err.contains("ssh -G far-away"), "{err}");
    }
}
